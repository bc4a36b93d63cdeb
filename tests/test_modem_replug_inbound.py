"""An SMS that reaches a modem while no gateway has its port open (a replug, a restart) is not lost.

A USB modem that is unplugged loses power; plugged in again it boots with its power-on CNMI
(SIM800: 2,1,0,0,0, under which a flash SMS would come as +CMT) while no program has its new tty
open. A real modem does not route +CMT to a TE that is not there (DTR off): it stores the SMS, and
the gateway's sweep after init reads it. Opening the port flushes whatever was printed before.
The same holds for a modem that stays powered while the gateway restarts: closing the port drops DTR.
"""

from __future__ import annotations

from tests.modem_helpers import Inbox, start_supervisor, virtual_modems, wait_until


def test_a_flash_sms_held_while_unplugged_is_read_after_the_replug(tmp_path):
    inbox = Inbox()
    with virtual_modems(tmp_path, profile="sim800") as sim:
        port = sim.ports["sim1"]
        modem = port.modem
        port.unplug()
        modem.inject_sms("+447700900011", "flash while unplugged", flash=True)  # held by the network
        assert not modem.deliveries

        port.replug()  # boots, registers, and the network delivers what it held: nobody has the port open
        wait_until(lambda: modem.deliveries, what="the held SMS delivered to the replugged modem")

        supervisor = start_supervisor("sim1", port.path, inbox)  # READY only after its first sweep
        try:
            assert inbox.texts() == ["flash while unplugged"]
            assert [how for _, how, _ in modem.deliveries] == ["stored"]  # not a +CMT to nobody
            assert modem.status()["stored"]["SM"] == 0  # read, then deleted
        finally:
            supervisor.stop()


def test_a_flash_sms_comes_as_cmt_once_the_gateway_has_the_port(tmp_path):
    """The other side: with the port open and spoken to, the same SMS is routed directly as +CMT."""
    inbox = Inbox()
    with virtual_modems(tmp_path, profile="sim800") as sim:
        port = sim.ports["sim1"]
        modem = port.modem
        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            modem.inject_sms("+447700900012", "flash while open", flash=True)
            wait_until(lambda: inbox.texts(), what="the flash SMS handed to the gateway")
            assert inbox.texts() == ["flash while open"]
            assert [how for _, how, _ in modem.deliveries] == ["cmt"]
        finally:
            supervisor.stop()


def test_a_flash_sms_that_comes_while_the_gateway_restarts_is_read_after_it(tmp_path):
    inbox = Inbox()
    with virtual_modems(tmp_path, profile="sim800") as sim:
        port = sim.ports["sim1"]
        modem = port.modem
        start_supervisor("sim1", port.path, inbox).stop()  # the gateway set the modem up, then went
        modem.inject_sms("+447700900013", "flash while restarting", flash=True)
        wait_until(lambda: modem.deliveries, what="the SMS delivered to the modem")

        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            assert inbox.texts() == ["flash while restarting"]
            assert [how for _, how, _ in modem.deliveries] == ["stored"]  # not a +CMT to nobody
        finally:
            supervisor.stop()
