"""A session that ends (a hang found, the port closed) keeps the SMS the modem already sent.

Under AT+CSMS=0 a modem acknowledges a +CMT to the network as it prints it: the two lines on the
wire are the only copy. A +CMT still queued behind what the events thread is busy with (a slow
commit; a +CMTI whose read waits for the health check the hang stalls) when the supervisor finds
the modem hung and closes the port must still be stored.
"""

from __future__ import annotations

import threading

from modem.session import InboundSms
from modem.supervisor import ModemState
from tests.modem_helpers import Inbox, start_supervisor, virtual_modems, wait_settled, wait_until

HUNG = {ModemState.HUNG}


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


def test_a_cmt_queued_when_a_hang_ends_the_session_is_stored(tmp_path):
    inbox = SlowFirstCommit()
    with virtual_modems(tmp_path, profile="e3131") as sim:
        port = sim.ports["sim1"]
        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            wait_settled(supervisor, port.modem)
            transport = supervisor._transport
            events = next(t for t in threading.enumerate() if t.name == "sim1-events")
            port.modem.inject_sms("+447700900001", "flash first", mode="cmt", flash=True)
            assert inbox.entered.wait(10), "the first +CMT never reached the handler"
            port.modem.inject_sms("+447700900002", "flash second", mode="cmt", flash=True)
            wait_until(lambda: transport.unsolicited.qsize() >= 1, what="the second +CMT routed and queued")

            port.modem.hang()  # found by the next check: the session ends and its port is closed
            assert supervisor.wait_for(HUNG, 15), supervisor.state
            wait_until(lambda: not transport.connected, what="the hung modem's port closed")
            inbox.release.set()
            events.join(15)

            assert not events.is_alive()
            assert inbox.texts() == ["flash first", "flash second"]
        finally:
            inbox.release.set()
            supervisor.stop()


def test_a_cmt_queued_behind_a_read_the_closed_port_cut_short_is_stored(tmp_path):
    inbox = SlowFirstCommit()
    with virtual_modems(tmp_path, profile="e3131") as sim:
        port = sim.ports["sim1"]
        modem = port.modem
        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            wait_settled(supervisor, modem)
            transport = supervisor._transport
            events = next(t for t in threading.enumerate() if t.name == "sim1-events")
            modem.inject_sms("+447700900001", "flash first", mode="cmt", flash=True)
            assert inbox.entered.wait(10), "the first +CMT never reached the handler"
            modem.inject_sms("+447700900002", "stored one", mode="cmti")
            modem.inject_sms("+447700900003", "flash second", mode="cmt", flash=True)
            wait_until(lambda: transport.unsolicited.qsize() >= 2, what="the +CMTI and the +CMT queued")

            hung = threading.Event()
            original = modem.feed

            def hang_at_the_check(data: bytes) -> None:
                if b"AT+CREG?" in data and not hung.is_set():
                    modem.hang()  # the check's command never gets its answer; the +CMTI's read waits behind it
                    hung.set()
                original(data)

            modem.feed = hang_at_the_check
            assert hung.wait(15), "no health check came"
            inbox.release.set()
            assert supervisor.wait_for(HUNG, 15), supervisor.state
            events.join(15)

            assert not events.is_alive()
            assert "flash second" in inbox.texts()
            assert modem.status()["stored"]["SM"] == 1  # the +CMTI's SMS waits on the SIM for the next sweep
        finally:
            inbox.release.set()
            supervisor.stop()


def test_a_cmt_that_comes_on_a_recovery_steps_port_is_stored(tmp_path):
    """A hang that ends while the ladder's `AT` resync has the port: the modem prints the flash SMS the
    network held meanwhile, then answers the `AT`; the step's port is closed right after."""
    inbox = Inbox()
    with virtual_modems(tmp_path, profile="ec25") as sim:
        port = sim.ports["sim1"]
        modem = port.modem
        supervisor = start_supervisor("sim1", port.path, inbox)
        try:
            wait_settled(supervisor, modem)
            resynced = threading.Event()
            original = modem.feed

            def hang_ends_at_the_resync(data: bytes) -> None:
                if b"AT\r" in data and supervisor.state is ModemState.HUNG and not resynced.is_set():
                    modem._hung_forever = False  # the hang is over: what the network held comes now
                    modem._hang_over()
                    resynced.set()
                original(data)

            modem.feed = hang_ends_at_the_resync
            modem.hang()
            modem.inject_sms("+447700900004", "flash during recovery", mode="cmt", flash=True)  # held
            assert resynced.wait(20), "no recovery step came"
            assert supervisor.wait_for({ModemState.READY}, 20), supervisor.state

            assert "flash during recovery" in inbox.texts()
        finally:
            supervisor.stop()
