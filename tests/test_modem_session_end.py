"""A session that ends (a hang found, the port closed) keeps the SMS the modem already sent.

Under AT+CSMS=0 a modem acknowledges a +CMT to the network as it prints it: the two lines on the
wire are the only copy. A +CMT still queued behind what the events thread is busy with (a slow
commit; a +CMTI whose read waits for the health check the hang stalls) when the supervisor finds
the modem hung and closes the port must still be stored.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from modem.session import InboundSms
from modem.supervisor import ModemState, ModemSupervisor
from tests.modem_helpers import Inbox, start_supervisor, virtual_modems, wait_settled, wait_until

HUNG = {ModemState.HUNG}


@contextlib.contextmanager
def settled_modem(tmp_path: Any, profile: str, inbox: Inbox) -> Iterator[tuple[Any, ModemSupervisor]]:
    """One virtual modem and its supervisor, settled (`wait_settled`); the supervisor stopped after."""
    with virtual_modems(tmp_path, profile=profile) as sim:
        port = sim.ports["sim1"]
        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            wait_settled(supervisor, port.modem)
            yield port.modem, supervisor
        finally:
            if isinstance(inbox, SlowFirstCommit):
                inbox.release.set()
            supervisor.stop()


def once_the_modem_gets(modem: Any, matches: Callable[[bytes], bool], then: Callable[[], None]) -> threading.Event:
    """Run `then()` the first time the host writes bytes that `matches`, before the modem reads them;
    the event returned is set once it ran."""
    done = threading.Event()
    original = modem.feed

    def feed(data: bytes) -> None:
        if not done.is_set() and matches(data):
            then()
            done.set()
        original(data)

    modem.feed = feed
    return done


class SlowFirstCommit(Inbox):
    """An inbox whose first SMS is kept only when `release` is set (a commit that takes a while)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30), "the test never released the first commit"
        return super().on_sms(modem, sms)


@contextlib.contextmanager
def first_commit_held(tmp_path: Any) -> Iterator[tuple[Any, ModemSupervisor, SlowFirstCommit, threading.Thread]]:
    """A settled E3131 whose events thread is inside the commit of a first flash SMS, held there
    until the inbox's `release` is set: (modem, supervisor, inbox, the events thread)."""
    inbox = SlowFirstCommit()
    with settled_modem(tmp_path, "e3131", inbox) as (modem, supervisor):
        events = next(t for t in threading.enumerate() if t.name == "sim1-events")
        modem.inject_sms("+447700900001", "flash first", mode="cmt", flash=True)
        assert inbox.entered.wait(10), "the first +CMT never reached the handler"
        yield modem, supervisor, inbox, events


def test_a_cmt_queued_when_a_hang_ends_the_session_is_stored(tmp_path):
    with first_commit_held(tmp_path) as (modem, supervisor, inbox, events):
        transport = supervisor._transport
        modem.inject_sms("+447700900002", "flash second", mode="cmt", flash=True)
        wait_until(lambda: transport.unsolicited.qsize() >= 1, what="the second +CMT routed and queued")

        modem.hang()  # found by the next check: the session ends and its port is closed
        assert supervisor.wait_for(HUNG, 15), supervisor.state
        wait_until(lambda: not transport.connected, what="the hung modem's port closed")
        inbox.release.set()
        events.join(15)

        assert not events.is_alive()
        assert inbox.texts() == ["flash first", "flash second"]


def test_a_cmt_queued_behind_a_read_the_closed_port_cut_short_is_stored(tmp_path):
    with first_commit_held(tmp_path) as (modem, supervisor, inbox, events):
        transport = supervisor._transport
        modem.inject_sms("+447700900002", "stored one", mode="cmti")
        modem.inject_sms("+447700900003", "flash second", mode="cmt", flash=True)
        wait_until(lambda: transport.unsolicited.qsize() >= 2, what="the +CMTI and the +CMT queued")

        # the check's command never gets its answer; the +CMTI's read waits behind it
        hung = once_the_modem_gets(modem, lambda data: b"AT+CREG?" in data, modem.hang)
        assert hung.wait(15), "no health check came"
        inbox.release.set()
        assert supervisor.wait_for(HUNG, 15), supervisor.state
        events.join(15)

        assert not events.is_alive()
        assert "flash second" in inbox.texts()
        assert modem.status()["stored"]["SM"] == 1  # the +CMTI's SMS waits on the SIM for the next sweep


def test_a_cmt_that_comes_on_a_recovery_steps_port_is_stored(tmp_path):
    """A hang that ends while the ladder's `AT` resync has the port: the modem prints the flash SMS the
    network held meanwhile, then answers the `AT`; the step's port is closed right after."""
    inbox = Inbox()
    with settled_modem(tmp_path, "ec25", inbox) as (modem, supervisor):

        def hang_over() -> None:
            modem._hung_forever = False  # the hang is over: what the network held comes now
            modem._hang_over()

        resynced = once_the_modem_gets(
            modem, lambda data: b"AT\r" in data and supervisor.state is ModemState.HUNG, hang_over)
        modem.hang()
        modem.inject_sms("+447700900004", "flash during recovery", mode="cmt", flash=True)  # held
        assert resynced.wait(20), "no recovery step came"
        assert supervisor.wait_for({ModemState.READY}, 20), supervisor.state

        assert "flash during recovery" in inbox.texts()
