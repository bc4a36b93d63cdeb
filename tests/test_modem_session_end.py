"""A session that ends (a hang found, the port closed) keeps the SMS the modem already sent.

Under AT+CSMS=0 a modem acknowledges a +CMT to the network as it prints it: the two lines on the
wire are the only copy. A +CMT still queued behind one the events thread is busy with (a slow
commit) when the supervisor finds the modem hung and closes the port must still be stored.
"""

from __future__ import annotations

import threading

from modem.session import InboundSms
from modem.supervisor import ModemState
from tests.modem_helpers import Inbox, start_supervisor, virtual_modems, wait_settled, wait_until


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
            assert supervisor.wait_for({ModemState.HUNG}, 15), supervisor.state
            wait_until(lambda: not transport.connected, what="the hung modem's port closed")
            inbox.release.set()
            events.join(15)

            assert not events.is_alive()
            assert inbox.texts() == ["flash first", "flash second"]
        finally:
            inbox.release.set()
            supervisor.stop()
