"""The queue on a real SQLite file: validation, ordering, expiry, cancel, crash recovery, reports."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from gateway.outbound.claims import Accepted
from gateway.outbound.models import Message, MessageStatus, PartStatus
from gateway.outbound.new_message import Outgoing, RejectedMessage
from gateway.outbound.queue import Queue
from gateway.outbound.transitions import NOT_SENDING
from gateway.store import db
from modem.pdu import StatusReport


def test_enqueue_normalises_counts_and_records(queue):
    message = queue.enqueue("07700 900123", "Привет! " * 10)
    stored = queue.get(message.id)
    assert stored.to_number == "+447700900123"
    assert (stored.encoding, stored.segments) == ("ucs2", 2)
    assert [p.seq for p in stored.parts] == [1, 2] and all(p.status == "pending" for p in stored.parts)
    assert 1 <= stored.concat_ref <= 255
    assert [e.status for e in stored.events] == ["queued"]


@pytest.mark.parametrize(
    ("to", "text", "kwargs", "field"),
    [
        ("hello", "hi", {}, "to"),
        ("+4477", "hi", {}, "to"),
        ("+447700900123", "", {}, "text"),
        ("+447700900123", "x" * 2000, {}, "text"),
        ("+447700900123", "hi", {"priority": "urgent"}, "priority"),
        ("+447700900123", "hi", {"kind": "spam"}, "kind"),
        ("+447700900123", "hi", {"expires_in": -5}, "expires_in"),
    ],
)
def test_bad_input_is_refused_with_the_field(queue, to, text, kwargs, field):
    with pytest.raises(RejectedMessage) as info:
        queue.enqueue(to, text, **kwargs)
    assert info.value.field == field
    assert queue.depth() == {}


def test_enqueue_many_is_all_or_none_with_consecutive_ids(queue):
    items = [{"to": f"+44770090{i:04d}", "text": f"Reminder {i}", "priority": "bulk"} for i in range(5)]
    with pytest.raises(RejectedMessage) as info:
        queue.enqueue_many([*items[:3], {"to": "+447700900999", "text": ""}, *items[3:]], source="api")
    assert (info.value.index, info.value.field) == (3, "text")
    assert queue.depth() == {}  # the good items before it were not stored either
    messages = queue.enqueue_many(items, source="api")
    assert [m.id for m in messages] == list(range(messages[0].id, messages[0].id + 5))
    stored = [queue.get(m.id) for m in messages]
    assert [(s.to_number, s.text, s.source, s.priority) for s in stored] == [
        (f"+44770090{i:04d}", f"Reminder {i}", "api", 2) for i in range(5)]
    assert all([e.status for e in s.events] == ["queued"] and len(s.parts) == 1 for s in stored)



def test_a_batch_keeps_each_message_with_its_own_text_parts_and_event(queue):
    # one, two and three parts mixed in one batch (one multi-row insert): each id gets its own row
    texts = [f"{i} " + "x" * (170 * (i % 3)) for i in range(12)]
    messages = queue.enqueue_many([{"to": f"+44770090{i:04d}", "text": text} for i, text in enumerate(texts)],
                                  source="api")
    assert [m.segments for m in messages] == [1, 2, 3] * 4
    for i, message in enumerate(messages):
        stored = queue.get(message.id)
        assert (stored.to_number, stored.text, stored.segments) == (f"+44770090{i:04d}", texts[i], message.segments)
        assert [(p.seq, p.total, p.status) for p in stored.parts] == [
            (seq, message.segments, "pending") for seq in range(1, message.segments + 1)]
        assert [(e.status, e.part_seq) for e in stored.events] == [("queued", None)]


def test_an_outgoing_item_is_stored_with_its_number_and_campaign(queue):
    (message,) = queue.enqueue_many([Outgoing("+447700900123", "Sale today", kind="marketing", priority="bulk",
                                              campaign_id=7)], source="campaign")
    stored = queue.get(message.id)
    assert (stored.to_number, stored.kind, stored.priority, stored.campaign_id, stored.source, stored.status) == (
        "+447700900123", "marketing", 2, 7, "campaign", "queued")
    assert queue.get(queue.enqueue("+447700900124", "hi").id).campaign_id is None


@pytest.mark.parametrize(("item", "field"), [
    (Outgoing("07700 900123", "Sale"), "to"),  # not normalised: refused, not parsed
    (Outgoing("+44 7700 900123", "Sale"), "to"),
    (Outgoing("", "Sale"), "to"),
    (Outgoing("+447700900123", ""), "text"),
    (Outgoing("+447700900123", "Sale", priority="urgent"), "priority"),
    (Outgoing("+447700900123", "Sale", kind="spam"), "kind"),
])
def test_a_bad_outgoing_item_is_refused_with_its_index_and_field(queue, item, field):
    with pytest.raises(RejectedMessage) as info:
        queue.enqueue_many([Outgoing("+447700900124", "fine"), item], source="campaign")
    assert (info.value.index, info.value.field) == (1, field)
    assert queue.depth() == {}

def test_claim_order_priority_then_fifo(queue):
    ids = [queue.enqueue("+447700900123", f"bulk {i}", priority="bulk").id for i in range(2)]
    normal = queue.enqueue("+447700900123", "normal").id
    high = queue.enqueue("+447700900123", "otp", priority="high").id
    order = [queue.claim("sim1").id for _ in range(4)]
    assert order == [high, normal, ids[0], ids[1]]
    assert queue.claim("sim1") is None


def test_pinned_message_waits_for_its_sim(queue):
    message = queue.enqueue("+447700900123", "pinned", sim="sim2")
    assert queue.claim("sim1") is None
    assert queue.claim("sim2").id == message.id


def test_expired_message_is_never_claimed(queue, clock):
    message = queue.enqueue("+447700900123", "code 1234", priority="high", expires_in=30)
    clock.advance(31)
    assert queue.claim("sim1") is None
    assert queue.expire_due() == 1
    stored = queue.get(message.id)
    assert stored.status == "expired" and stored.finished_at is not None


def test_open_counts_name_each_state_not_yet_final_and_count_no_finished_message(queue):
    assert queue.open_counts() == {"queued": 0, "sending": 0, "sent": 0}
    ids = [queue.enqueue(f"+4477009001{i:02d}", f"hello {i}").id for i in range(5)]
    for _ in range(3):
        claimed = queue.claim("sim1")
        (part_id,) = claimed.part_ids.values()
        queue.part_submitting(part_id, "sim1")
        queue.part_sent(part_id, 7, last=True)
    queue.finish(ids[0], MessageStatus.DELIVERED)
    queue.claim("sim1")
    assert queue.open_counts() == {"queued": 1, "sending": 1, "sent": 2}
    assert queue.open_counts((MessageStatus.QUEUED,)) == {"queued": 1}


def test_cancel_only_before_sending(queue):
    first = queue.enqueue("+447700900123", "a")
    second = queue.enqueue("+447700900123", "b")
    assert queue.cancel(first.id)
    claimed = queue.claim("sim1")
    assert claimed.id == second.id
    assert not queue.cancel(second.id)
    assert queue.get(first.id).status == "cancelled"


def test_retry_backs_off_and_gives_up(queue, clock):
    message = queue.enqueue("+447700900123", "hello")
    claimed = queue.claim("sim1")
    assert queue.retry(claimed.id, "CMS 42", delay=10, max_attempts=2) == "queued"
    assert queue.claim("sim1") is None  # not before the delay
    clock.advance(10)
    claimed = queue.claim("sim2")  # and another SIM may take it
    assert claimed.id == message.id and claimed.attempts == 2
    assert queue.retry(claimed.id, "CMS 42", delay=10, max_attempts=2) == "failed"


def test_recovery_marks_in_doubt_parts_unknown_and_requeues_the_rest(queue):
    in_doubt = queue.enqueue("+447700900123", "one")
    untouched = queue.enqueue("+447700900124", "two")
    half = queue.enqueue("+447700900125", "x" * 200)  # two parts
    claimed = {c.id: c for c in (queue.claim("sim1"), queue.claim("sim1"), queue.claim("sim1"))}
    queue.part_submitting(claimed[in_doubt.id].part_ids[1], "sim1")
    queue.part_submitting(claimed[half.id].part_ids[1], "sim1")
    queue.part_sent(claimed[half.id].part_ids[1], 7)
    # the process dies here; on restart:
    assert queue.recover(modems=["sim1"]) == {"unknown": 1, "requeued": 2}
    assert queue.get(in_doubt.id).status == "unknown"
    assert queue.get(in_doubt.id).parts[0].status == "unknown"
    assert queue.get(untouched.id).status == "queued"
    resumed = queue.claim("sim2")  # the untouched one may go anywhere...
    assert resumed.id == untouched.id
    assert queue.claim("sim2") is None  # ...but the half-sent one stays on sim1
    again = queue.claim("sim1")
    assert again.id == half.id and again.pending_seqs == (2,)


def test_status_reports_complete_a_multipart(queue, clock):
    message = queue.enqueue("+447700900123", "y" * 200)
    claimed = queue.claim("sim1")
    for seq, ref in ((1, 40), (2, 41)):
        queue.part_submitting(claimed.part_ids[seq], "sim1")
        queue.part_sent(claimed.part_ids[seq], ref)
    queue.finish(claimed.id, MessageStatus.SENT)
    now = clock.now()
    report = lambda ref, status: StatusReport(ref, "+447700900123", now, now, status)  # noqa: E731
    assert queue.apply_report("sim1", report(40, 0x00)) == message.id
    assert queue.get(message.id).status == "sent"  # one part is not a message
    assert queue.apply_report("sim2", report(41, 0x00)) is None  # wrong modem
    assert queue.apply_report("sim1", report(41, 0x00)) == message.id
    stored = queue.get(message.id)
    assert stored.status == "delivered"
    assert [p.status for p in stored.parts] == [PartStatus.DELIVERED] * 2


def _first_part_sent(queue, text: str, reference: int):
    """`text` queued to one number, claimed by sim1, its first part sent as `reference`: (message, claim)."""
    message = queue.enqueue("+447700900123", text)
    claimed = queue.claim("sim1")
    queue.part_submitting(claimed.part_ids[1], "sim1")
    queue.part_sent(claimed.part_ids[1], reference)
    return message, claimed


def test_failed_report_fails_the_message(queue, clock):
    message, claimed = _first_part_sent(queue, "z", 9)
    queue.finish(claimed.id, MessageStatus.SENT)
    now = clock.now()
    queue.apply_report("sim1", StatusReport(9, "447700900123", now, now + timedelta(seconds=5), 0x41))
    assert queue.get(message.id).status == "failed"


def test_a_part_that_failed_early_fails_the_message_and_stops_its_other_parts(queue, clock):
    message, claimed = _first_part_sent(queue, "w" * 200, 50)  # two parts
    now = clock.now()
    report = lambda ref, status: StatusReport(ref, "+447700900123", now, now, status)  # noqa: E731
    queue.apply_report("sim1", report(50, 0x41))  # part 1 failed while part 2 was still to go
    assert queue.get(message.id).status == "failed"
    assert queue.part_submitting(claimed.part_ids[2], "sim1") == NOT_SENDING  # part 2 does not go
    stored = queue.get(message.id)
    assert stored.status == "failed"
    assert [p.status for p in stored.parts] == [PartStatus.FAILED, PartStatus.PENDING]
    assert [e.status for e in stored.events if e.part_seq is None] == ["queued", "sending", "failed"]


def test_a_message_failed_by_a_report_stays_failed_whatever_its_worker_does_next(queue, clock):
    message, claimed = _first_part_sent(queue, "w" * 300, 60)  # three parts
    now = clock.now()
    queue.apply_report("sim1", StatusReport(60, "+447700900123", now, now, 0x41))  # part 1 can't be delivered
    assert queue.retry(message.id, "CMS ERROR 42", delay=10, max_attempts=5, part_id=claimed.part_ids[2]) == "failed"
    queue.release(message.id, "gateway stopping")
    queue.defer(message.id, clock.now(), "quiet hours")
    queue.finish(message.id, MessageStatus.UNKNOWN, "no answer")
    stored = queue.get(message.id)
    assert stored.status == "failed"
    assert [e.status for e in stored.events if e.part_seq is None] == ["queued", "sending", "failed"]
    assert queue.claim("sim1") is None  # not queued again


def test_a_failure_report_for_a_part_of_a_message_given_back_fails_it(queue, clock):
    message, claimed = _first_part_sent(queue, "w" * 200, 62)  # two parts
    now = clock.now()
    assert queue.retry(message.id, "CMS ERROR 42", delay=10, max_attempts=5) == "queued"
    queue.apply_report("sim1", StatusReport(62, "+447700900123", now, now, 0x41))  # part 1 can't be delivered
    assert queue.get(message.id).status == "failed"
    clock.advance(11)
    assert queue.claim("sim1") is None  # its second part is not sent for nothing


def test_a_multipart_ends_failed_whichever_part_fails_and_its_events_read_part_then_message(queue, clock):
    now = clock.now()
    report = lambda ref, status: StatusReport(ref, "+447700900123", now, now, status)  # noqa: E731
    ends = []
    for first, second in ((0x41, 0x00), (0x00, 0x41)):  # the failure first, then last
        message = queue.enqueue("+447700900123", "v" * 200)
        claimed = queue.claim("sim1")
        refs = {1: 70 + 2 * len(ends), 2: 71 + 2 * len(ends)}
        for seq in (1, 2):
            queue.part_submitting(claimed.part_ids[seq], "sim1")
            queue.part_sent(claimed.part_ids[seq], refs[seq], last=seq == 2)
        queue.apply_report("sim1", report(refs[1], first))
        assert queue.get(message.id).status == (MessageStatus.FAILED if first else MessageStatus.SENT)
        queue.apply_report("sim1", report(refs[2], second))
        stored = queue.get(message.id)
        ends.append(stored.status)
        expected_parts = [PartStatus.FAILED if status else PartStatus.DELIVERED for status in (first, second)]
        assert [p.status for p in stored.parts] == expected_parts
        tail = [(e.part_seq, e.status) for e in stored.events][-3:]
        if first:  # the failure ended it; the delivery after is the part's alone
            assert tail == [(1, PartStatus.FAILED), (None, MessageStatus.FAILED), (2, PartStatus.DELIVERED)]
        else:
            assert tail == [(1, PartStatus.DELIVERED), (2, PartStatus.FAILED), (None, MessageStatus.FAILED)]
    assert ends == [MessageStatus.FAILED, MessageStatus.FAILED]


@pytest.fixture
def other(database, clock):
    """The same database through another engine."""
    engine = db.make_engine(str(database.url))
    yield Queue(db.sessions(engine), clock)
    engine.dispose()


class _Between:
    """Starts `change` in another thread, through its own engine (as another process would), once
    this thread's next UPDATE of a message has reached the database, before its commit. On SQLite
    every transaction is a writer's, so the change waits until this one commits; on PostgreSQL the
    UPDATE's row lock makes it wait (started before the UPDATE, it could get there first)."""

    def __init__(self, database, change) -> None:
        self.database, self.change, self.thread, self.other = database, change, threading.get_ident(), None
        self.result = None
        event.listen(database, "after_cursor_execute", self)

    def __call__(self, conn, cursor, statement, *args) -> None:
        if self.other or threading.get_ident() != self.thread or not statement.lstrip().startswith("UPDATE messages"):
            return
        self.other = threading.Thread(target=self._run)
        self.other.start()

    def _run(self) -> None:
        self.result = self.change()

    def __enter__(self) -> "_Between":
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.database, "after_cursor_execute", self)
        assert self.other is not None
        self.other.join(30)
        assert not self.other.is_alive()


@pytest.mark.parametrize(("worker_step", "outcome"), [("finish", "suppressed"), ("retry", "failed"),
                                                      ("release", "failed"), ("defer", "failed")])
def test_a_failure_report_arriving_during_a_workers_change_is_applied_after_it(queue, clock, database, other,
                                                                               worker_step, outcome):
    message, claimed = _first_part_sent(queue, "w" * 200, 61)  # two parts
    now = clock.now()
    failure = lambda: other.apply_report("sim1", StatusReport(61, "+447700900123", now, now, 0x41))  # noqa: E731
    steps = {
        "finish": lambda: queue.finish(message.id, MessageStatus.SUPPRESSED, "opted out"),
        "retry": lambda: queue.retry(message.id, "CMS ERROR 42", delay=10, max_attempts=5),
        "release": lambda: queue.release(message.id, "gateway stopping"),
        "defer": lambda: queue.defer(message.id, clock.now() + timedelta(hours=8), "quiet hours"),
    }
    with _Between(database, failure):
        steps[worker_step]()
    stored = queue.get(message.id)
    assert stored.status == outcome  # a final state stays final; one given back fails with its part
    assert [p.status for p in stored.parts if p.id == claimed.part_ids[1]] == ["failed"]  # the report is kept
    assert queue.claim("sim1") is None


def test_a_cancel_arriving_while_expiry_runs_finds_the_message_expired(queue, clock, database, other):
    message = queue.enqueue("+447700900123", "code 1234", expires_in=30)
    clock.advance(31)
    with _Between(database, lambda: other.cancel(message.id)) as between:
        queue.expire_due()
    assert queue.get(message.id).status == "expired"
    assert between.result is False


def test_a_status_report_before_its_part_is_recorded_is_applied_when_it_is(queue, clock):
    message = queue.enqueue("+447700900123", "v" * 200)  # two parts
    claimed = queue.claim("sim1")
    now = clock.now()
    stale = StatusReport(70, "+447700900123", now, now, 0x41)
    assert queue.apply_report("sim1", stale) is None  # an older part's reference: no part was sent yet
    clock.advance(1)
    queue.part_submitting(claimed.part_ids[1], "sim1")
    early = StatusReport(70, "+447700900123", now, now, 0x00)
    assert queue.apply_report("sim1", early) is None  # the network answered before the part was recorded
    queue.part_submitting(claimed.part_ids[2], "sim1", after=Accepted(claimed.part_ids[1], 70, False))
    assert [p.status for p in queue.get(message.id).parts] == [PartStatus.DELIVERED, PartStatus.SUBMITTING]
    queue.part_sent(claimed.part_ids[2], 71, last=True)
    assert queue.apply_report("sim1", StatusReport(71, "+447700900123", now, now, 0x00)) == message.id
    assert queue.get(message.id).status == "delivered"  # the stale failure report matched nothing


def test_a_failing_status_hook_fails_the_change(queue):
    """A status change never commits without what its hooks write (its webhook event)."""
    message = queue.enqueue("+447700900123", "hello")

    def down(conn, message_id, status):
        raise RuntimeError("webhook outbox unavailable")

    queue.status_hooks.append(down)
    with pytest.raises(RuntimeError):
        queue.cancel(message.id)
    with pytest.raises(RuntimeError):
        queue.claim("sim1")  # the send path's group commit too
    queue.status_hooks.remove(down)
    stored = queue.get(message.id)
    assert stored.status == "queued" and [e.status for e in stored.events] == ["queued"]
    assert queue.claim("sim1").id == message.id


def test_times_are_stored_and_returned_aware(queue, database):
    queue.enqueue("+447700900123", "t")
    from gateway.store.db import sessions

    with sessions(database)() as session:
        message = session.scalar(select(Message))
    assert message.created_at.tzinfo is not None
    assert message.status == MessageStatus.QUEUED
