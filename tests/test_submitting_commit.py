"""The `submitting` commit between two sends: what its status hooks and the early reports' lookup
no longer read, and that what they would have found still comes through."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from gateway.metrics.counters import GatewayMetrics
from gateway.outbound.claims import Accepted
from gateway.outbound.early_reports import KeptEarly
from gateway.outbound.models import EarlyReport, MessageEvent, MessageStatus, PartStatus
from gateway.outbound.queue import Queue
from gateway.sims.history import SendHistory
from gateway.sims.models import SimSend
from gateway.store import db
from modem.pdu import StatusReport

from .pg_trace import pg, statements, traced  # noqa: F401 (pg: a fixture)
from .webhook_helpers import Receiver

TO = "+447700900123"


def _with_hooks(queue: Queue, clock, database) -> None:
    """The status hooks the daemon wires: the webhook outbox, the contact's flag, the metrics."""
    from gateway.daemon import with_status_hooks

    with_status_hooks(queue, clock)
    GatewayMetrics(queue).attach(queue=queue)


def test_the_submitting_commit_reads_no_sim_callback_or_early_report_it_need_not(pg, clock, tmp_path):
    queue = Queue(db.sessions(pg), clock, default_region="GB")
    history = SendHistory(queue.sessions, clock)
    try:
        _with_hooks(queue, clock, pg)
        messages = [queue.enqueue(TO, f"text {i}") for i in range(3)]
        answered, lines = None, []
        for message in messages:  # each part's commit carries the one answered before
            claimed = queue.claim("a1")
            assert claimed is not None and claimed.id == message.id
            lines = statements(traced(queue.group._conn, tmp_path, lambda: queue.part_submitting(
                claimed.part_ids[1], "a1", after=answered,
                send=lambda: history.stamped(sim="iccid:8944", modem="a1", to_number=TO))))
            answered = Accepted(claimed.part_ids[1], 7, True, message.id)
        assert queue.get(messages[1].id).status == MessageStatus.SENT
        assert not [s for s in lines if "early_reports" in s], lines
        assert not [s for s in lines if "FROM message_callbacks JOIN" in s], lines
        assert not [s for s in lines if "SELECT messages.sim" in s], lines
        # BEGIN; the part's and the message's `sent` with their events, one statement; the next
        # part's `submitting` with its event and its send in the SIM's history, one statement; COMMIT
        assert len(lines) == 4 and "WITH sent_part AS" in lines[1] and "WITH submitted_part AS" in lines[2], lines
        with pg.connect() as conn:
            assert conn.execute(select(SimSend.part_id).order_by(SimSend.id)).scalars().all() == [
                queue.get(m.id).parts[0].id for m in messages]
            assert [tuple(row) for row in conn.execute(
                select(MessageEvent.part_seq, MessageEvent.status, MessageEvent.detail)
                .where(MessageEvent.message_id == messages[1].id).order_by(MessageEvent.id))] == [
                (None, "queued", None), (None, "sending", "on a1"), (1, "submitting", "a1"),
                (1, "sent", "reference 7"), (None, "sent", None)]
    finally:
        queue.group.close()


def test_a_claim_and_a_status_report_read_no_sim_or_callback_their_statements_return(pg, clock, tmp_path):
    queue = Queue(db.sessions(pg), clock, default_region="GB")
    try:
        _with_hooks(queue, clock, pg)
        first, second = queue.enqueue(TO, "first"), queue.enqueue(TO, "second")
        assert queue.claim("a1").id == first.id  # the group commit's kept connection, which is traced
        claimed: list = []
        claim = statements(traced(queue.group._conn, tmp_path, lambda: claimed.append(queue.claim("a1"))))
        assert claimed[0].id == second.id
        assert queue.part_submitting(claimed[0].part_ids[1], "a1") is None
        queue.part_sent(claimed[0].part_ids[1], 7, last=True)
        now = clock.now()
        report = statements(traced(queue.group._conn, tmp_path, lambda: queue.apply_report(
            "a1", StatusReport(7, TO, now, now, 0x00))))
        assert queue.get(second.id).status == MessageStatus.DELIVERED
        # BEGIN; the candidates; the take with its event and parts, one statement; COMMIT
        assert len(claim) == 4 and "WITH taken AS" in claim[2], claim
        # BEGIN; the parts the report may be about; the part's report, the message's end and their
        # events, one statement (which says the recipient is not flagged unreachable, so the
        # contact health hook writes nothing); COMMIT
        assert len(report) == 4 and "WITH reported_part AS" in report[2], report
        for lines in (claim, report):
            assert not [s for s in lines if "FROM message_callbacks JOIN" in s], lines
            assert not [s for s in lines if "SELECT messages.sim" in s], lines
    finally:
        queue.group.close()


def test_a_report_kept_before_a_restart_is_still_applied(database, clock):
    """The report came before its part's `sent` was recorded, and the gateway restarted between."""
    before = Queue(db.sessions(database), clock, default_region="GB")
    message = before.enqueue(TO, "hello")
    claimed = before.claim("a1")
    assert before.part_submitting(claimed.part_ids[1], "a1") is None
    clock.advance(2)
    report = StatusReport(42, TO, clock.now(), clock.now(), 0x00)
    assert before.apply_report("a1", report) is None  # kept: no part has reference 42 yet
    before.group.close()

    after = Queue(db.sessions(database), clock, default_region="GB")  # the restart: nothing known in memory
    try:
        after.part_sent(claimed.part_ids[1], 42, last=True)
        assert after.get(message.id).status == MessageStatus.DELIVERED
    finally:
        after.group.close()


def test_a_report_kept_after_the_modem_was_looked_at_is_applied(database, clock):
    """The queue has read that no report is kept for the modem; one kept since still applies."""
    queue = Queue(db.sessions(database), clock, default_region="GB")
    try:
        earlier, message = queue.enqueue(TO, "earlier"), queue.enqueue(TO, "later")
        claimed = queue.claim("a1")
        assert claimed.id == earlier.id and queue.part_submitting(claimed.part_ids[1], "a1") is None
        queue.part_sent(claimed.part_ids[1], 41, last=True)  # the modem's kept reports read: none
        claimed = queue.claim("a1")
        assert claimed.id == message.id and queue.part_submitting(claimed.part_ids[1], "a1") is None
        clock.advance(2)
        assert queue.apply_report("a1", StatusReport(43, TO, clock.now(), clock.now(), 0x00)) is None
        queue.part_sent(claimed.part_ids[1], 43, last=True)
        assert queue.get(message.id).status == MessageStatus.DELIVERED
        assert [p.status for p in queue.get(message.id).parts] == [PartStatus.DELIVERED]
        with db.sessions(database)() as session:
            assert session.scalar(select(EarlyReport.part_id)) == claimed.part_ids[1]
    finally:
        queue.group.close()


def test_a_message_with_a_callback_url_still_hears_its_sent_from_the_next_parts_commit(
        client, make_key, queue, webhooks):
    key = make_key("send,read")
    receiver = Receiver(secret=key.signing_secret)
    try:
        with_url = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url},
                               headers=key.headers).json["id"]
        without = client.post("/api/v1/messages", json={"to": TO, "text": "no callback"},
                              headers=key.headers).json["id"]
        claimed = queue.claim("sim1")
        assert claimed.id == with_url and queue.part_submitting(claimed.part_ids[1], "sim1") is None
        following = queue.claim("sim1")
        assert following.id == without
        answered = Accepted(claimed.part_ids[1], 7, True, with_url)
        assert queue.part_submitting(following.part_ids[1], "sim1", after=answered) is None
        queue.part_sent(following.part_ids[1], 8, last=True)
        now = queue.clock.now()
        for reference in (7, 8):  # both delivered: only the one with a callback URL is told
            assert queue.apply_report("sim1", StatusReport(reference, TO, now, now, 0x00)) is not None
        webhooks.run_once()
        assert [(e["data"]["id"], e["data"]["status"]) for e in receiver.received] == [
            (with_url, "sending"), (with_url, "sent"), (with_url, "delivered")]
        assert receiver.bad_signatures == 0
    finally:
        receiver.close()


def test_a_report_kept_while_the_modems_first_look_cannot_see_it_yet_is_looked_for(database, clock):
    """The report's transaction is still open when a part's `sent`, the first since the start, reads
    the modem's kept reports (on PostgreSQL the two run side by side): the database shows none yet,
    and what the report's transaction told the queue decides."""
    kept = KeptEarly()
    submitted = clock.now()
    kept.kept("a1", submitted + timedelta(seconds=2))  # its row not committed: nothing to read
    with database.connect() as conn:
        assert kept.may_apply(conn, "a1", submitted)
        assert not kept.may_apply(conn, "a1", submitted + timedelta(seconds=3))  # submitted after it came
