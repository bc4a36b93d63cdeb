"""Which sent part a status report answers (modem.report_match), table-tested, and the queue using it:
a late report for an older part with the same wrapped reference must not complete a newer one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.outbound.models import MessageStatus
from modem.pdu import StatusReport
from modem.report_match import SMSC_CLOCK_SKEW, SentPart, best_match, could_answer, matches_any

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def report(ref: int, scts: datetime, discharged: datetime | None = None, number: str = "+447700900123",
           status: int = 0) -> StatusReport:
    return StatusReport(ref, number, scts, discharged or scts + 5 * MINUTE, status)


def part(key: str, sent: datetime | None, ref: int = 7, number: str = "+447700900123") -> SentPart[str]:
    return SentPart(key, number, ref, sent - timedelta(seconds=2) if sent else None, sent)


@pytest.mark.parametrize(("scts", "parts", "expected"), [
    (T0, [part("a", T0)], "a"),
    (T0 + 2 * MINUTE, [part("old", T0), part("new", T0 + 40 * MINUTE)], "old"),  # after the wrap
    (T0 + 40 * MINUTE, [part("old", T0), part("new", T0 + 40 * MINUTE)], "new"),
    (T0, [part("other number", T0, number="+447700900999")], None),
    (T0, [part("other reference", T0, ref=8)], None),
    (T0 + 3 * timedelta(days=1), [part("days old", T0)], None),  # a late report never lands on it
    (T0 - timedelta(hours=20), [part("sent after the report", T0)], None),
    (T0 + 3 * timedelta(hours=1), [part("wrong SMSC time zone", T0)], "wrong SMSC time zone"),
    (T0, [part("no times", None)], "no times"),
    (T0, [part("no times", None), part("timed", T0)], "timed"),
])
def test_best_match(scts, parts, expected):
    match = best_match(report(7, scts), parts)
    assert (match.key if match else None) == expected


def test_national_and_international_spellings_are_one_number():
    assert could_answer(report(7, T0, number="07700900123"), part("a", T0))


def test_discharged_before_the_part_was_sent_is_not_it():
    late = T0 + SMSC_CLOCK_SKEW + MINUTE
    assert not could_answer(report(7, T0, discharged=T0), part("a", late))


def test_matches_any_for_a_send_just_made():
    assert matches_any(report(7, T0), [("+447700900123", 7)])
    assert not matches_any(report(7, T0), [("+447700900123", 8)])


def test_the_queue_matches_a_late_report_to_the_older_part_after_the_reference_wrapped(queue, clock):
    older = queue.enqueue("+447700900123", "older")
    claimed = queue.claim("sim1")
    queue.part_submitting(claimed.part_ids[1], "sim1")
    sent_older = clock.now()
    queue.part_sent(claimed.part_ids[1], 7, last=True)
    clock.advance(40 * 60)  # 256 parts later the modem's reference is 7 again
    newer = queue.enqueue("+447700900123", "newer")
    claimed = queue.claim("sim1")
    queue.part_submitting(claimed.part_ids[1], "sim1")
    queue.part_sent(claimed.part_ids[1], 7, last=True)
    late = StatusReport(7, "+447700900123", sent_older, clock.now(), 0x00)  # the older part's report, late
    assert queue.apply_report("sim1", late) == older.id
    assert queue.get(older.id).status == MessageStatus.DELIVERED
    assert queue.get(newer.id).status == MessageStatus.SENT
    stale = StatusReport(7, "+447700900123", clock.now() + timedelta(days=2), clock.now() + timedelta(days=2), 0)
    assert queue.apply_report("sim1", stale) is None  # for a part this queue never sent
    assert queue.get(newer.id).status == MessageStatus.SENT
