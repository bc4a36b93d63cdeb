"""A sent part whose status report never comes (`[reports] wait_hours`): once the validity period
the gateway asked the SMSC for is over, the engine's sweep records it as having none (`no_report`,
with the time), the message stays `sent` and the API says `"report": "none"`; a report that still
comes is applied. On a real database (a SQLite file, or PostgreSQL), time from the FakeClock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.core import config as config_module
from gateway.core.config import ConfigError
from gateway.metrics.counters import GatewayMetrics
from gateway.outbound.engine import SWEEP_INTERVAL, Engine
from gateway.outbound.models import MessageStatus, Part, PartStatus
from gateway.outbound.queue import Queue
from gateway.outbound.report_wait import message_report
from gateway.store import db
from modem.pdu import StatusReport, Submit, decode

from .modem_helpers import wait_until

TO = "+447700900123"
WAIT_H = 2.0


@pytest.fixture
def waiting_queue(database, clock):
    made = Queue(db.sessions(database), clock, default_region="GB", report_wait_hours=WAIT_H)
    yield made
    made.group.close()


def sent_message(queue: Queue, text: str, refs: tuple[int, ...]) -> int:
    """A message whose every part the network accepted with these references; its id."""
    message = queue.enqueue(TO, text)
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == message.id
    for seq, ref in enumerate(refs, start=1):
        assert queue.part_submitting(claimed.part_ids[seq], "sim1") is None
        queue.part_sent(claimed.part_ids[seq], ref, last=seq == len(refs))
    assert queue.get(message.id).status == MessageStatus.SENT
    return message.id


def report(clock, ref: int, status: int, submitted=None) -> StatusReport:
    """A report now; `submitted`: the SCTS it carries (the part's submission, however late it comes)."""
    now = clock.now()
    return StatusReport(ref, TO, submitted or now, now, status)


def test_a_part_without_a_report_is_recorded_as_having_none_once_the_wait_is_over(waiting_queue, clock):
    message_id = sent_message(waiting_queue, "y" * 200, (40, 41))  # two parts
    assert waiting_queue.apply_report("sim1", report(clock, 40, 0x00)) == message_id  # part 1 delivered
    clock.advance(WAIT_H * 3600 - 1)
    assert waiting_queue.record_no_reports() == 0  # a second early: the report may still come
    assert [p.status for p in waiting_queue.get(message_id).parts] == [PartStatus.DELIVERED, PartStatus.SENT]
    clock.advance(1)
    assert waiting_queue.record_no_reports() == 1
    stored = waiting_queue.get(message_id)
    assert stored.status == MessageStatus.SENT  # no new message state
    part = stored.parts[1]
    assert (part.status, part.report_at, part.report_status) == (PartStatus.NO_REPORT, clock.now(), None)
    assert [(e.status, e.part_seq, e.at) for e in stored.events][-1] == (PartStatus.NO_REPORT, 2, clock.now())
    assert waiting_queue.record_no_reports() == 0  # once


def test_a_report_that_comes_after_the_wait_is_still_applied(waiting_queue, clock):
    delivered = sent_message(waiting_queue, "late but delivered", (7,))
    failed = sent_message(waiting_queue, "late and failed", (8,))
    submitted = clock.now()
    clock.advance(WAIT_H * 3600)
    assert waiting_queue.record_no_reports() == 2
    assert waiting_queue.apply_report("sim1", report(clock, 7, 0x00, submitted)) == delivered
    assert waiting_queue.apply_report("sim1", report(clock, 8, 0x41, submitted)) == failed
    assert waiting_queue.get(delivered).status == MessageStatus.DELIVERED
    assert waiting_queue.get(delivered).parts[0].status == PartStatus.DELIVERED
    assert waiting_queue.get(failed).status == MessageStatus.FAILED
    assert waiting_queue.get(failed).parts[0].status == PartStatus.FAILED


def test_the_sweep_records_them_and_comes_back_when_the_next_wait_ends(waiting_queue, clock):
    engine = Engine(waiting_queue, clock)
    assert engine.sweep_round() == SWEEP_INTERVAL  # nothing waits for a report
    first = sent_message(waiting_queue, "first", (1,))
    clock.advance(3600)
    second = sent_message(waiting_queue, "second", (2,))
    assert engine.sweep_round() == SWEEP_INTERVAL  # the first's wait ends in an hour: the usual round
    clock.advance(3600)
    engine.sweep_round()
    assert waiting_queue.get(first).parts[0].status == PartStatus.NO_REPORT
    assert waiting_queue.get(second).parts[0].status == PartStatus.SENT


def test_a_short_wait_brings_the_sweep_forward_but_not_after_every_part(database, clock):
    queue = Queue(db.sessions(database), clock, report_wait_hours=30 / 3600)  # 30 s, as the soak's
    try:
        engine = Engine(queue, clock)
        message_id = sent_message(queue, "short wait", (3,))
        assert engine.sweep_round() == pytest.approx(30, abs=0.01)  # when its wait ends
        clock.advance(29)
        assert engine.sweep_round() == pytest.approx(3.0)  # a tenth of the wait at the least
        clock.advance(1)
        engine.sweep_round()
        assert queue.get(message_id).parts[0].status == PartStatus.NO_REPORT
    finally:
        queue.group.close()


def test_the_api_shows_the_report_and_metrics_count_the_message_once(queue, client, make_key, clock):
    metrics = GatewayMetrics(queue)
    metrics.attach(queue=queue)
    key = make_key("read")

    def shown(message_id: int) -> dict:
        response = client.get(f"/api/v1/messages/{message_id}", headers=key.headers)
        assert response.status_code == 200
        return response.get_json()

    message_id = sent_message(queue, "q" * 200, (60, 61))
    submitted = clock.now()
    queued = queue.enqueue(TO, "not sent yet")
    assert shown(queued.id)["report"] is None
    assert shown(message_id)["report"] == "awaiting"
    queue.apply_report("sim1", report(clock, 60, 0x00))
    assert shown(message_id)["report"] == "awaiting"  # part 2's may still come
    clock.advance(72 * 3600)  # the default wait
    queue.record_no_reports()
    body = shown(message_id)
    assert (body["status"], body["report"]) == ("sent", "none")
    given_up = clock.now().isoformat().replace("+00:00", "Z")
    assert [(p["status"], p["report_at"] == given_up) for p in body["parts"]] == [
        ("delivered", False), ("no_report", True)]
    assert metrics.registry.get_sample_value("gsmgw_messages_no_report_total", {"sim": "sim1"}) == 1
    queue.apply_report("sim1", report(clock, 61, 0x00, submitted))  # 72 h late after all
    assert (shown(message_id)["status"], shown(message_id)["report"]) == ("delivered", "delivered")
    queue.record_no_reports()
    assert metrics.registry.get_sample_value("gsmgw_messages_no_report_total", {"sim": "sim1"}) == 1


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], None),
    ([PartStatus.PENDING], None),
    ([PartStatus.SENT, PartStatus.PENDING], "awaiting"),
    ([PartStatus.DELIVERED, PartStatus.SENT], "awaiting"),
    ([PartStatus.DELIVERED, PartStatus.NO_REPORT], "none"),
    ([PartStatus.NO_REPORT, PartStatus.NO_REPORT], "none"),
    ([PartStatus.DELIVERED, PartStatus.DELIVERED], "delivered"),
    ([PartStatus.NO_REPORT, PartStatus.FAILED], "failed"),
    ([PartStatus.UNKNOWN, PartStatus.NO_REPORT], None),
])
def test_what_a_messages_reports_say(statuses, expected):
    assert message_report(statuses) == expected


def test_the_wait_is_a_setting_with_the_validity_periods_bounds():
    assert config_module.from_dict({}).reports.wait_hours == 72.0
    assert config_module.from_dict({"reports": {"wait_hours": 0.5}}).reports.wait_hours == 0.5
    for bad in (0, 63 * 7 * 24 + 1):
        with pytest.raises(ConfigError, match="reports.wait_hours"):
            config_module.from_dict({"reports": {"wait_hours": bad}})


def test_the_daemon_asks_the_smsc_for_that_validity_and_its_sweep_gives_up_the_report(daemon_factory, clock):
    """Through the real daemon and a virtual modem whose network sends no report for the number."""
    daemon = daemon_factory(1, reports={"wait_hours": 1.0},
                            modems=[{"name": "template", "port": "unused", "limits": {"min_gap_s": 0}}])
    network = daemon.simulator.network
    network.set_outcome(TO, [])  # the report never comes
    message = daemon.queue.enqueue(TO, "no report for this one")
    wait_until(lambda: daemon.queue.get(message.id).status == MessageStatus.SENT, 15, "the message sent")
    (submitted,) = [r for r in network.record.submitted if r["text"] == "no report for this one"]
    pdu = decode(submitted["raw"])
    assert isinstance(pdu, Submit) and pdu.validity_minutes == 60  # the wait, asked of the SMSC

    def part_status() -> str:
        with daemon.queue.sessions() as session:
            return session.scalar(select(Part.status).where(Part.message_id == message.id))

    clock.advance(3600 + 1)  # the scheduler's sweep runs on the clock
    wait_until(lambda: part_status() == PartStatus.NO_REPORT, 15, "the sweep to record no report")
    assert daemon.queue.get(message.id).status == MessageStatus.SENT
    assert daemon.queue.get(message.id).parts[0].report_at >= daemon.queue.get(message.id).parts[0].sent_at + timedelta(hours=1)
