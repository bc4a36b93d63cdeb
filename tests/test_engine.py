"""The send engine end to end in the real daemon: queue in a real SQLite file, workers, the consent
check, the real serial driver, virtual modems on ptys. Time for limits, retries and expiry comes
from a FakeClock the test moves; a negative check waits for the event that proves it (a worker gone
idle until a given moment), never for a stretch of real time."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.inbound.models import InboundMessage
from gateway.inbound.models import InboundPart
from gateway.outbound.models import MessageStatus
from gateway.outbound.queue import Queue
from gateway.outbound.verdict import SEND
from gateway.store import db
from modem.supervisor import ModemState, ModemSupervisor

from .daemon_helpers import build_daemon, stopped_after
from .modem_helpers import fail_nth_send, wait_settled, wait_until, when_the_modem_sees
from .process_helpers import ProcessDied

pytestmark = pytest.mark.timeout(90)
NO_LIMITS = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}
# No periodic health check within a test's time: a scenario with a modem slow on purpose gets only
# the checks its own events ask for (wait_settled's, the worker's check_now after a send timed out),
# never one that finds the modem hung before the send it is about.
ONLY_ASKED_CHECKS = 3600.0


class Gateway:
    """The real daemon (gateway.daemon.Daemon): send-time consent check, inbound pipeline, webhooks
    and contact health attached as in production, the REST API on a free port, virtual modems on
    ptys, time from the test's FakeClock."""

    def __init__(self, tmp_path, clock, *, modems: int = 1, limits: dict | None = None, sticky: bool = True,
                 pre_send=None, start: bool = True, send_timeout: float = 5.0, modem_timing=None,
                 check_interval: float = 0.5) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.daemon = build_daemon(
            tmp_path, clock, modems, modem_timing=modem_timing, gateway={"sticky_sim": sticky}, simulator={"report_delay_s": 0.1},
            modems=[{"name": "template", "port": "unused", "limits": {**NO_LIMITS, **(limits or {})},
                     "command_timeout_s": 1.0, "send_timeout_s": send_timeout, "check_interval_s": check_interval,
                     "registration_timeout_s": 5.0}])
        if pre_send is not None:
            self.daemon.engine.pre_send = pre_send  # a check that fails on purpose, in place of the consent check
        self.queue = self.daemon.queue
        self.engine = self.daemon.engine
        db.upgrade(self.daemon.db)  # messages may be queued before the start
        self.images: list = []  # crash images' engines
        if start:
            self.start()

    def start(self) -> None:
        """Start the daemon; return once every modem is ready and has settled (see wait_settled)."""
        self.daemon.start()
        assert self.daemon.wait_ready(15), self.daemon.status_line()
        for supervisor in self.daemon.supervisors:
            wait_settled(supervisor, self.sim.ports[supervisor.name].modem)

    @property
    def sim(self):
        return self.daemon.simulator

    @property
    def supervisors(self) -> dict[str, ModemSupervisor]:
        return {s.name: s for s in self.daemon.supervisors}

    def stop(self) -> None:
        self.daemon.stop()
        for image in self.images:
            image.dispose()

    def status(self, message_id: int) -> str:
        return self.queue.get(message_id).status

    def wait_status(self, message_id: int, *statuses: str, timeout: float = 10) -> None:
        wait_until(lambda: self.status(message_id) in statuses, timeout,
                   f"message {message_id} to become {statuses} (is {self.status(message_id)})")

    def submitted(self) -> list[dict]:
        return list(self.sim.network.record.submitted)

    def wait_idle_until(self, thread: str, moment: float, *, since: float) -> None:
        """The event a negative check rests on: `thread` began, at clock time `since` or later, a
        wait on the clock that ends at `moment` or later, so it does nothing before then."""
        def idle() -> bool:
            waiting = self.clock.waiting(thread)
            return waiting is not None and waiting[0] >= since and waiting[1] >= moment - 1e-6

        wait_until(idle, 10, f"{thread} idle until {moment} (waits {self.clock.waiting(thread)})")


@pytest.fixture
def gateway_factory(tmp_path, clock):
    with stopped_after(lambda **options: Gateway(tmp_path, clock, **options)) as make:
        yield make


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


@pytest.mark.parametrize(("window", "seconds"), [("per_minute", 60), ("per_hour", 3600),
                                                 ("per_day", 86400), ("per_month", 30 * 86400)])
def test_limits_counted_in_parts_in_rolling_windows(gateway_factory, clock, window, seconds):
    gw = gateway_factory(limits={window: 3})
    start = clock.time()
    two_parts = gw.queue.enqueue("+447700900123", "y" * 200)  # 2 parts
    singles = [gw.queue.enqueue("+447700900124", f"single {i}").id for i in range(3)]
    gw.wait_status(two_parts.id, "sent", "delivered")
    gw.wait_status(singles[0], "sent", "delivered")
    gw.wait_idle_until("sim1-worker", start + seconds, since=start)  # 2 + 1 parts: the cap is reached
    assert len(gw.submitted()) == 3 and gw.status(singles[1]) == "queued"
    clock.advance(seconds - 1)
    gw.engine.wake_all()
    gw.wait_idle_until("sim1-worker", start + seconds, since=start + seconds - 1)  # still inside the window
    assert len(gw.submitted()) == 3 and gw.status(singles[1]) == "queued"
    clock.advance(1.5)
    gw.engine.wake_all()
    for message_id in singles[1:]:
        gw.wait_status(message_id, "sent", "delivered")
    assert len(gw.submitted()) == 5


def test_limits_survive_a_restart(tmp_path, clock):
    start = clock.time()
    first = Gateway(tmp_path, clock, limits={"per_minute": 2})
    try:
        ids = [first.queue.enqueue("+447700900123", f"m{i}").id for i in range(2)]
        for message_id in ids:
            first.wait_status(message_id, "sent", "delivered")
    finally:
        first.stop()
    second = Gateway(tmp_path, clock, limits={"per_minute": 2})
    try:
        third = second.queue.enqueue("+447700900123", "m2").id
        second.wait_idle_until("sim1-worker", start + 60, since=start)  # the restart reset nothing
        assert second.status(third) == "queued"
        clock.advance(61)
        second.engine.wake_all()
        second.wait_status(third, "sent", "delivered")
    finally:
        second.stop()


def test_routing_failover_when_a_modem_is_unplugged(gateway_factory):
    gw = gateway_factory(modems=2)
    first = gw.queue.enqueue("+447700900123", "first")
    gw.wait_status(first.id, "sent", "delivered")
    sticky_sim = gw.queue.get(first.id).sim
    other = "sim2" if sticky_sim == "sim1" else "sim1"
    again = gw.queue.enqueue("+447700900123", "same customer, same SIM")
    gw.wait_status(again.id, "sent", "delivered")
    assert gw.queue.get(again.id).sim == sticky_sim
    gw.sim.ports[sticky_sim].unplug()
    wait_until(lambda: gw.supervisors[sticky_sim].state is not ModemState.READY, 10, "the unplug noticed")
    moved = [gw.queue.enqueue("+447700900123", f"while unplugged {i}").id for i in range(3)]
    pinned = gw.queue.enqueue("+447700900124", "must come from the unplugged SIM", sim=sticky_sim)
    for message_id in moved:
        gw.wait_status(message_id, "sent", "delivered")
        assert gw.queue.get(message_id).sim == other
    assert gw.status(pinned.id) == "queued"
    gw.sim.ports[sticky_sim].replug()
    gw.wait_status(pinned.id, "sent", "delivered", timeout=30)
    assert gw.queue.get(pinned.id).sim == sticky_sim


def test_transient_error_retries_permanent_error_fails(gateway_factory, clock):
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    modem.cms_error(42, times=1)  # congestion: try again later
    retried = gw.queue.enqueue("+447700900123", "try again")
    wait_until(lambda: gw.queue.get(retried.id).attempts == 1 and gw.status(retried.id) == "queued", 10)
    clock.advance(31)
    gw.engine.wake_all()
    gw.wait_status(retried.id, "sent", "delivered")
    assert gw.queue.get(retried.id).attempts == 2
    modem.cms_error(21, times=1)  # rejected: permanent
    failed = gw.queue.enqueue("+447700900124", "rejected")
    gw.wait_status(failed.id, "failed")
    stored = gw.queue.get(failed.id)
    assert stored.attempts == 1 and "CMS ERROR: 21" in stored.last_error


def test_no_part_resent_after_a_partial_multipart_failure(gateway_factory, clock):
    gw = gateway_factory()
    fail_nth_send(gw.sim.ports["sim1"].modem, 2, 47)  # part 2 meets a transient failure
    message = gw.queue.enqueue("+447700900123", "z" * 400)  # three parts
    wait_until(lambda: gw.queue.get(message.id).attempts == 1 and gw.status(message.id) == "queued", 10)
    first, *rest = [p.status for p in gw.queue.get(message.id).parts]
    # part 1's status report may already have come back (0.1 s after it went)
    assert first in ("sent", "delivered") and rest == ["pending", "pending"], (first, rest)
    clock.advance(31)
    gw.engine.wake_all()
    gw.wait_status(message.id, "sent", "delivered")
    accepted = [r["concat_seq"] for r in gw.submitted()]
    assert accepted.count(1) == 1  # part 1 went once, although the message was attempted twice
    assert sorted(set(accepted)) == [1, 2, 3]


def test_inbound_sms_is_stored_before_it_leaves_the_sim(gateway_factory):
    """Stored as a part, then deleted from the SIM, then made a message by the inbound pipeline."""
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    modem.inject_sms("+447700900999", "Hi, is the shop open today?", mode="cmti")

    def stored() -> list[InboundMessage]:
        with gw.queue.sessions() as session:
            return list(session.scalars(select(InboundMessage)).all())

    wait_until(stored, 10, "the inbound message")
    (message,) = stored()
    assert message.text == "Hi, is the shop open today?" and message.sender == "+447700900999"
    with gw.queue.sessions() as session:
        (part,) = session.scalars(select(InboundPart)).all()
    assert part.modem == "sim1" and part.raw_pdu
    wait_until(lambda: sum(modem.status()["stored"].values()) == 0, 10, "the SIM copy deleted")


def test_engine_outlives_every_fault(gateway_factory, clock):
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    supervisor = gw.supervisors["sim1"]
    modem.garbage(b"\xff\x00\xfe garbage\r\n")
    modem.send_urc("RING")
    # each fault lasts until the supervisor has seen it (an event), not for a stretch of real time
    modem.hang()  # until its watchdog restarts it
    supervisor.check_now()
    wait_until(lambda: supervisor.state is not ModemState.READY, 10, "the hang found")
    modem.reset()
    assert supervisor.wait_for({ModemState.READY}, 20), f"{supervisor.state} {supervisor.reason}"
    wait_settled(supervisor, modem)
    port = gw.sim.ports["sim1"]
    port.unplug()
    wait_until(lambda: supervisor.state is not ModemState.READY, 10, "the unplug noticed")
    port.replug()
    message = gw.queue.enqueue("+447700900123", "after all that")
    gw.wait_status(message.id, "sent", "delivered", timeout=30)
    assert MessageStatus.SENT in {e.status for e in gw.queue.get(message.id).events}


def crash_image(gw, path) -> Queue:
    """The database as a kill -9 at this moment would leave it (what is committed), to restart on."""
    source = sqlite3.connect(gw.tmp_path / "gsmgw.db")
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    image = db.make_engine(f"sqlite:///{path}")
    gw.images.append(image)
    return Queue(db.sessions(image), gw.clock)


def part_status(gw, to_number: str, seq: int) -> str | None:
    """A part's status as committed, found by its message's number (the hooks that ask run before
    the test has read any ids back)."""
    with sqlite3.connect(gw.tmp_path / "gsmgw.db") as conn:
        row = conn.execute("SELECT p.status FROM message_parts p JOIN messages m ON m.id = p.message_id "
                           "WHERE m.to_number = ? AND p.seq = ?", (to_number, seq)).fetchone()
    return row[0] if row else None


def crash_at_the_second_prompt(gw, path, to_number: str, seq: int) -> list[Queue]:
    """At the modem's second AT+CMGS from now, once the part (`to_number`, `seq`) is committed
    `submitting`, take a crash image to `path`; the list returned holds it then."""
    images: list[Queue] = []

    def crash() -> None:
        wait_until(lambda: part_status(gw, to_number, seq) == "submitting", 10, f"part {seq} to {to_number} in doubt")
        images.append(crash_image(gw, path))

    when_the_modem_sees(gw.sim.ports["sim1"].modem, 2, crash)
    return images


@pytest.mark.sqlite_only  # the crash image is a copy of the SQLite file
def test_a_crash_after_the_next_part_is_in_doubt_keeps_the_answered_part(gateway_factory, tmp_path):
    """Part 1 answered, part 2's `submitting` committed, its PDU not written yet: a crash there must
    find part 1 recorded, so a restart with resend_unknown sends part 2 only (not part 1 twice)."""
    gw = gateway_factory()
    images = crash_at_the_second_prompt(gw, tmp_path / "crash.db", "+447700900123", 2)
    message = gw.queue.enqueue("+447700900123", "m" * 200)  # two parts
    gw.wait_status(message.id, "sent", "delivered")
    restarted = images[0]
    restarted.recover(resend_unknown=True, modems=["sim1"])
    stored = restarted.get(message.id)
    assert [p.status for p in stored.parts] == ["sent", "pending"]
    assert stored.parts[0].reference == gw.submitted()[0]["mr"]
    assert restarted.claim("sim1").pending_seqs == (2,)


@pytest.mark.sqlite_only  # the crash image is a copy of the SQLite file
def test_a_crash_while_the_next_message_goes_leaves_the_sent_one_sent(gateway_factory, tmp_path):
    """The message claimed ahead is in doubt, its PDU not written yet: the one before, whose only
    part the modem answered, is `sent` in the crash image, not `unknown`."""
    gw = gateway_factory()
    images = crash_at_the_second_prompt(gw, tmp_path / "crash.db", "+447700900124", 1)
    # both at once: the second is claimed ahead while the first is sent
    first, second = gw.queue.enqueue_many([{"to": "+447700900123", "text": "first"},
                                           {"to": "+447700900124", "text": "second"}], source="api")
    gw.wait_status(second.id, "sent", "delivered")
    restarted = images[0]
    assert restarted.recover(modems=["sim1"]) == {"unknown": 1, "requeued": 0}
    assert restarted.get(first.id).status == "sent"
    assert restarted.get(second.id).status == "unknown"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fault", ["unknown", "failed"])
def test_a_crash_while_recording_an_outcome_never_requeues_the_message(gateway_factory, fault):
    """A part's fate and its message's are one commit: a crash (the status hook's kill) that
    undoes the message's never leaves the part's behind, which a restart would read as nothing
    left to send and mark `sent`."""
    gw = gateway_factory(send_timeout=1.0, check_interval=ONLY_ASKED_CHECKS)
    modem = gw.sim.ports["sim1"].modem

    def crash(conn, message_id, status):
        if status == fault:
            raise ProcessDied

    gw.queue.status_hooks.append(crash)
    if fault == "unknown":
        modem.set_latency(3)  # no answer after the PDU: in doubt
    else:
        modem.cms_error(21, times=1)  # refused for good
    message = gw.queue.enqueue("+447700900123", "one part")
    worker = gw.engine.workers["sim1"]
    wait_until(lambda: not worker._thread.is_alive(), 10, "the worker to die with the process")
    gw.queue.status_hooks.remove(crash)
    assert gw.status(message.id) == "sending"
    modem.set_latency(0)
    assert gw.queue.recover(modems=["sim1"]) == {"unknown": 1, "requeued": 0}  # the part is in doubt
    stored = gw.queue.get(message.id)
    assert stored.status == "unknown" and [p.status for p in stored.parts] == ["unknown"]
    assert gw.queue.claim("sim1") is None  # never sent again, never marked sent


def events(gw, message_id: int) -> list[tuple[str, str | None]]:
    return [(e.status, e.detail) for e in gw.queue.get(message_id).events]


def test_an_error_the_worker_did_not_expect_settles_what_it_claimed(gateway_factory, clock):
    """A database error after the lock wait in the send-time check (once): the message goes back
    to the queue at once and is sent, instead of staying `sending` until a restart."""
    class LockedOnce:
        def __init__(self) -> None:
            self.failed = False

        def __call__(self, claimed):
            return SEND

        def within(self, conn, claimed):
            if claimed.attempts == 1:  # the whole first attempt (a unit of work may be run twice)
                self.failed = True
                raise OperationalError("SELECT consent", {}, sqlite3.OperationalError("database is locked"))
            return SEND

    check = LockedOnce()
    gw = gateway_factory(pre_send=check)
    message = gw.queue.enqueue("+447700900123", "hello")
    wait_until(lambda: check.failed and ("queued", "settled after a worker error") in events(gw, message.id), 10,
               "the claim given back")
    gw.wait_idle_until("sim1-worker", clock.time() + 1.0, since=clock.time())  # the worker's pause after an error
    clock.advance(1.0)
    gw.wait_status(message.id, "sent", "delivered")
    assert [r["text"] for r in gw.submitted()] == ["hello"]  # once


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_sweep_settles_what_a_dead_worker_left_sending(gateway_factory, clock):
    """The worker dies (a kill in the first part's commit) holding a one-time code and, before it,
    a message whose part is in doubt: no restart comes, the engine's periodic sweep settles both
    once they are `sending` longer than a send could take, and the code expires."""
    class DiesAtTheSecond:
        """The kill comes in the second message's commit, known by its number: a count of calls
        would also count a unit of work the group commit runs twice (after a neighbour failed)."""

        def __call__(self, claimed):
            return SEND

        def within(self, conn, claimed):
            if claimed.to_number == "+447700900126":
                raise ProcessDied
            return SEND

    gw = gateway_factory(pre_send=DiesAtTheSecond())
    otp = gw.queue.enqueue("+447700900125", "code 4321", priority="high", expires_in=30)
    gw.wait_status(otp.id, "sent", "delivered")  # the first goes
    second = gw.queue.enqueue("+447700900126", "code 9876", priority="high", expires_in=30)
    worker = gw.engine.workers["sim1"]
    wait_until(lambda: not worker._thread.is_alive(), 10, "the worker to die")
    assert gw.status(second.id) == "sending"
    clock.advance(31)  # expired, but a live send could still be going
    swept_from = clock.time()
    gw.engine.wake_all()
    assert gw.daemon.scheduler.wait_ran("outbound.sweep", swept_from, 10)  # a sweep ran at this time
    assert gw.status(second.id) == "sending"
    clock.advance(3600)  # no send takes an hour
    gw.wait_status(second.id, "expired")
    assert [r["text"] for r in gw.submitted()] == ["code 4321"]


def test_a_message_waiting_for_the_limits_between_parts_is_not_left_sending(gateway_factory, clock):
    """Only a send in progress is `sending` (the sweep relies on it): a long message whose next part
    must wait for the per-minute cap goes back to the queue until the slot, then on the same SIM."""
    gw = gateway_factory(modems=2, limits={"per_minute": 2})
    message = gw.queue.enqueue("+447700900123", "q" * 400)  # three parts
    wait_until(lambda: len(gw.submitted()) == 2 and gw.status(message.id) == "queued", 10,
               "two parts sent, the third waiting in the queue")
    sim = gw.queue.get(message.id).sim
    *gone, waiting = [p.status for p in gw.queue.get(message.id).parts]
    # a sent part's status report may already have come back (0.1 s after it went)
    assert len(gone) == 2 and set(gone) <= {"sent", "delivered"} and waiting == "pending", (gone, waiting)
    clock.advance(61)
    gw.engine.wake_all()
    gw.wait_status(message.id, "sent", "delivered")
    assert {r["modem"] for r in gw.submitted()} == {sim}  # all three parts from one SIM
    assert [r["concat_seq"] for r in gw.submitted()] == [1, 2, 3]
