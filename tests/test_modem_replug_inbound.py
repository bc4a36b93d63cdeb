"""An SMS that reaches a modem while no gateway has its port open (a replug, a restart) is not lost.

A USB modem that is unplugged loses power; plugged in again it boots with its power-on CNMI
(SIM800: 2,1,0,0,0, under which a flash SMS would come as +CMT) while no program has its new tty
open. A real modem does not route +CMT to a TE that is not there (DTR off): it stores the SMS, and
the gateway's sweep after init reads it. Opening the port flushes whatever was printed before.
The same holds for a modem that stays powered while the gateway restarts: closing the port drops DTR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.modem_helpers import Inbox, start_supervisor, virtual_modems, wait_until


@pytest.fixture
def port(tmp_path) -> Iterator[Any]:
    """A SIM800 on a pty, registered: its power-on CNMI gives a flash SMS as +CMT."""
    with virtual_modems(tmp_path, profile="sim800") as sim:
        yield sim.ports["sim1"]


def gateway_start(port: Any, inbox: Inbox) -> tuple[list[str], list[str]]:
    """Start a gateway's supervisor on `port` and stop it once READY (its first sweep is done then),
    its port closed: the texts it was handed, and how the modem gave each SMS over ("cmt", "stored")."""
    supervisor = start_supervisor("sim1", port.path, inbox)
    supervisor.stop()
    wait_until(lambda: supervisor._transport is None, what="the gateway's port closed")
    return inbox.texts(), [how for _, how, _ in port.modem.deliveries]


def test_a_flash_sms_held_while_unplugged_is_read_after_the_replug(port):
    modem = port.modem
    port.unplug()
    modem.inject_sms("+447700900011", "flash while unplugged", flash=True)  # held by the network
    assert not modem.deliveries

    port.replug()  # boots, registers, and the network delivers what it held: nobody has the port open
    wait_until(lambda: modem.deliveries, what="the held SMS delivered to the replugged modem")

    assert gateway_start(port, Inbox()) == (["flash while unplugged"], ["stored"])  # not a +CMT to nobody
    assert modem.status()["stored"]["SM"] == 0  # read, then deleted


def test_a_flash_sms_that_comes_while_the_gateway_restarts_is_read_after_it(port):
    inbox = Inbox()
    assert gateway_start(port, inbox) == ([], [])  # the gateway set the modem up, then went
    port.modem.inject_sms("+447700900013", "flash while restarting", flash=True)
    wait_until(lambda: port.modem.deliveries, what="the SMS delivered to the modem")

    assert gateway_start(port, inbox) == (["flash while restarting"], ["stored"])  # not a +CMT to nobody


def test_a_flash_sms_comes_as_cmt_once_the_gateway_has_the_port(port):
    """The other side: with the port open and spoken to, the same SMS is routed directly as +CMT."""
    inbox = Inbox()
    supervisor = start_supervisor("sim1", port.path, inbox)
    try:
        port.modem.inject_sms("+447700900012", "flash while open", flash=True)
        wait_until(lambda: inbox.texts(), what="the flash SMS handed to the gateway")
        assert inbox.texts() == ["flash while open"]
        assert [how for _, how, _ in port.modem.deliveries] == ["cmt"]
    finally:
        supervisor.stop()
