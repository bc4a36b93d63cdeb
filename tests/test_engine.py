"""The send engine end to end in the real daemon (engine_helpers.Gateway): queue in a real SQLite file,
workers, the consent check, the real serial driver, virtual modems on ptys. Time comes from a
FakeClock the test moves; a negative check waits for the event that proves it (a worker gone idle
until a given moment), never for a stretch of real time.

Here: the order of sending, a message's life to its report, expiry and cancelling, an outcome
never answered, the send-time check's suppressions and deferrals, the message claimed ahead.
"""

from __future__ import annotations

import threading

import pytest

from gateway.outbound.models import MessageStatus
from modem.supervisor import ModemState

from .engine_helpers import ONLY_ASKED_CHECKS
from .engine_helpers import gateway_factory  # noqa: F401  (fixtures)
from .modem_helpers import wait_settled, wait_until

pytestmark = pytest.mark.timeout(90)


def test_priority_order_and_fifo(gateway_factory):
    gw = gateway_factory(start=False)
    bulk = [gw.queue.enqueue("+447700900123", f"bulk {i}", priority="bulk").id for i in range(3)]
    normal = gw.queue.enqueue("+447700900124", "normal").id
    otp = gw.queue.enqueue("+447700900125", "otp 1234", priority="high").id
    gw.start()
    for message_id in [*bulk, normal, otp]:
        gw.wait_status(message_id, "sent", "delivered")
    assert [r["text"] for r in gw.submitted()] == ["otp 1234", "normal", "bulk 0", "bulk 1", "bulk 2"]


class UrgentOnceClaimedAhead:
    """A status listener (it runs in the claiming thread right after the commit): the moment the
    message with `text` is claimed ahead, while the modem still works on the one before, an urgent
    message is queued; the status of that one before is noted then."""

    def __init__(self, queue, text: str) -> None:
        self.queue, self.text = queue, text
        self.before: str | None = None  # the status of the message sent while it was claimed ahead
        self.otp: int | None = None

    def __call__(self, message_id: int, status: str) -> None:
        if self.otp is None and status == MessageStatus.SENDING and self.queue.get(message_id).text == self.text:
            self.before = self.queue.get(message_id - 1).status  # queued together: consecutive ids
            self.otp = self.queue.enqueue("+447700900125", "otp 1234", priority="high").id


def test_an_urgent_message_overtakes_the_one_claimed_ahead(gateway_factory):
    gw = gateway_factory()
    urgent = UrgentOnceClaimedAhead(gw.queue, "bulk 1")
    gw.queue.status_listeners.append(urgent)
    # all three stored before the first claim, so the next one is there to claim ahead
    bulk = [m.id for m in gw.queue.enqueue_many([{"to": "+447700900123", "text": f"bulk {i}", "priority": "bulk"}
                                                 for i in range(3)], source="api")]
    wait_until(lambda: urgent.otp is not None, 10, "bulk 1 claimed while bulk 0 is sent")
    assert urgent.before == "sending"  # bulk 1 was claimed ahead, while bulk 0 was sent
    otp = urgent.otp
    for message_id in [*bulk, otp]:
        gw.wait_status(message_id, "sent", "delivered")
    assert [r["text"] for r in gw.submitted()] == ["bulk 0", "otp 1234", "bulk 1", "bulk 2"]
    events = [(e.status, e.detail) for e in gw.queue.get(bulk[1]).events]
    assert ("queued", "a more urgent message came first") in events


def test_lifecycle_parts_references_and_reports(gateway_factory):
    gw = gateway_factory()
    text = "Привет " * 40  # UCS-2, several parts
    message = gw.queue.enqueue("+447700900123", text)
    gw.wait_status(message.id, "delivered")
    stored = gw.queue.get(message.id)
    records = [r for r in gw.submitted() if r["recipient"].endswith("7700900123")]
    assert [p.reference for p in stored.parts] == [r["mr"] for r in records]
    assert all(p.status == "delivered" and p.report_status == 0 for p in stored.parts)
    assert "".join(r["text"] for r in records) == text
    assert {r["concat_ref"] for r in records} == {stored.concat_ref}
    states = [e.status for e in stored.events if e.part_seq is None]
    assert states == ["queued", "sending", "sent", "delivered"]
    assert stored.sent_at and stored.finished_at


def test_failed_report_and_expired_and_cancelled(gateway_factory, clock):
    gw = gateway_factory(start=False)
    expiring = gw.queue.enqueue("+447700900123", "code 9999", priority="high", expires_in=30)
    cancelled = gw.queue.enqueue("+447700900124", "never")
    assert gw.queue.cancel(cancelled.id)
    clock.advance(31)  # the OTP is too old before any modem is up
    gw.start()
    gw.wait_status(expiring.id, "expired")
    failing = gw.queue.enqueue("+447700900000", "to a failing number")  # virtual network reports 0x41
    gw.wait_status(failing.id, "failed")
    assert gw.status(cancelled.id) == "cancelled"
    assert [r["text"] for r in gw.submitted()] == ["to a failing number"]


def test_unknown_when_the_modem_never_answers_after_the_pdu(gateway_factory):
    gw = gateway_factory(send_timeout=1.0, check_interval=ONLY_ASKED_CHECKS)
    modem = gw.sim.ports["sim1"].modem
    modem.set_latency(3)  # answers come after the driver gave up
    message = gw.queue.enqueue("+447700900123", "in doubt")
    gw.wait_status(message.id, "unknown")
    assert gw.queue.get(message.id).parts[0].status == "unknown"
    # the worker asked for a health check: the mute modem is found hung (and cannot be ready again
    # while it is slow), then comes back by itself, perhaps through a restart (its boot waited out)
    supervisor = gw.supervisors["sim1"]
    wait_until(lambda: supervisor.state is not ModemState.READY, 30, "the slow modem found hung")
    modem.set_latency(0)
    assert supervisor.wait_for({ModemState.READY}, 45), f"{supervisor.state} {supervisor.reason}"
    wait_settled(supervisor, modem)  # a restarted modem's start-up lines acted on before the next send
    later = gw.queue.enqueue("+447700900123", "after")
    gw.wait_status(later.id, "sent", "delivered", timeout=20)
    assert [r["text"] for r in gw.submitted()].count("in doubt") == 1  # never resent


def test_suppressed_and_deferred_by_the_send_time_check(gateway_factory, clock):
    """The daemon's consent check at the moment of sending: marketing to a number that never opted
    in is suppressed, a receipt to it goes; marketing to a subscriber in quiet hours waits in the
    queue for the morning, then goes."""
    gw = gateway_factory()  # the clock starts at 08:00 in London, outside quiet hours
    promo = gw.queue.enqueue("+447700900123", "50% off", kind="marketing")
    receipt = gw.queue.enqueue("+447700900123", "your receipt")
    gw.wait_status(promo.id, "suppressed")
    gw.wait_status(receipt.id, "sent", "delivered")
    gw.daemon.audience.opt_in("+447700900124", source="web_form", detail="signup form")
    clock.advance(14 * 3600)  # 22:00: quiet hours
    later = gw.queue.enqueue("+447700900124", "morning offer", kind="marketing")
    wait_until(lambda: any(e.detail and "deferred until" in e.detail for e in gw.queue.get(later.id).events), 10,
               "the deferral")
    assert gw.status(later.id) == "queued"
    clock.advance(10 * 3600 + 1)  # 08:00 the next day: the idle worker looks again by itself
    gw.wait_status(later.id, "sent", "delivered")
    assert [r["text"] for r in gw.submitted()] == ["your receipt", "morning offer"]


def test_a_quiet_hours_deferral_costs_the_modem_no_command(gateway_factory, clock):
    """Quiet hours are known before the prompt: the deferred message never makes the modem open
    an AT+CMGS (and cancel it with ESC)."""
    gw = gateway_factory()
    gw.daemon.audience.opt_in("+447700900124", source="web_form", detail="signup form")
    seen: list[bytes] = []
    modem = gw.sim.ports["sim1"].modem
    original = modem.feed
    modem.feed = lambda data: (seen.append(data), original(data))[1]
    clock.advance(14 * 3600)  # 22:00 in London: quiet hours
    later = gw.queue.enqueue("+447700900124", "morning offer", kind="marketing")
    wait_until(lambda: any(e.detail and "deferred until" in e.detail for e in gw.queue.get(later.id).events), 10,
               "the deferral")
    sent = b"".join(seen)
    assert b"AT+CMGS" not in sent and b"\x1b" not in sent
    assert gw.status(later.id) == "queued" and gw.submitted() == []


def test_a_message_that_falls_due_while_the_claim_runs_goes_without_the_clock_moving_again(gateway_factory, clock,
                                                                                           monkeypatch):
    """The worker's poll interval counts from when it read the queue: time that passed while the
    claim ran (here the night, in one step) is not waited again, so a deferred message goes once due."""
    gw = gateway_factory()
    gw.daemon.audience.opt_in("+447700900124", source="web_form", detail="signup form")
    clock.advance(14 * 3600)  # 22:00 in London: quiet hours
    later = gw.queue.enqueue("+447700900124", "morning offer", kind="marketing")
    wait_until(lambda: any(e.detail and "deferred until" in e.detail for e in gw.queue.get(later.id).events), 10,
               "the deferral")
    real_claim, morning = gw.queue.claim, threading.Event()

    def claim_through_the_night(*args, **kwargs):
        claimed = real_claim(*args, **kwargs)
        if claimed is None and not morning.is_set():
            clock.advance(10 * 3600 + 1)  # 08:00 the next day, after the claim read the queue
            morning.set()
        return claimed

    monkeypatch.setattr(gw.queue, "claim", claim_through_the_night)
    gw.engine.wake_all()
    gw.wait_status(later.id, "sent", "delivered")
    assert morning.is_set()


def test_the_message_claimed_ahead_is_checked_while_the_modem_sends_and_again_in_its_commit(gateway_factory):
    """The send-time check of the message claimed ahead runs while the modem still works on the
    PDU before it (inside that AT+CMGS exchange, so the modem does not wait for it between two
    sends); a STOP recorded after that early check is still obeyed by the check in the first part's
    `submitting` commit: the promotion is suppressed and its PDU never goes."""
    gw = gateway_factory(start=False)
    consent = gw.daemon.consent
    seen: list[tuple[str, float]] = []

    class StopRightAfterTheCheck:
        def __call__(self, claimed):
            verdict = consent(claimed)
            if claimed.to_number == "+447700900124":
                seen.append((verdict.action, gw.engine.workers["sim1"].busy_seconds))
                gw.daemon.audience.opt_out(claimed.to_number, source="keyword", detail="STOP")
            return verdict

        def within(self, conn, claimed):
            return consent.within(conn, claimed)

    gw.daemon.engine.pre_send = StopRightAfterTheCheck()
    gw.daemon.audience.opt_in("+447700900124", source="web_form", detail="signup form")
    receipt = gw.queue.enqueue("+447700900123", "your receipt")
    promo = gw.queue.enqueue("+447700900124", "50% off", kind="marketing")
    gw.start()
    gw.wait_status(promo.id, "suppressed")
    gw.wait_status(receipt.id, "sent", "delivered")
    # checked once, before the receipt's exchange ended (its time is counted when it ends)
    assert seen == [("send", 0.0)]
    assert [r["text"] for r in gw.submitted()] == ["your receipt"]
    assert any(e.detail and "opted out" in e.detail for e in gw.queue.get(promo.id).events)
