"""Which sent part a status report answers: the one rule, with no I/O.

A report names the part by its message reference (TP-MR, 8 bits on most modems), the recipient and
the service centre's time stamp (SCTS: when the SMSC took the part) and discharge time. References
wrap every 256 parts, so after a while one (reference, number) names several parts; the SCTS says
which: the SMSC took the part between our starting to send it and the modem's answer. Clocks
disagree, so that span is widened by `SMSC_CLOCK_SKEW`; of the parts left, the one sent nearest the
SCTS is the match. A part sent long before or after the report's times is never matched: a late
report for an old part must not complete a newer one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from modem.pdu import StatusReport

# An SMSC whose clock is right but whose time zone is set wrong is off by whole hours, at most 14;
# wider than that, a report could only be for a part it cannot be.
SMSC_CLOCK_SKEW = timedelta(hours=14)
# The longest a part's send can take (AT+CMGS to its answer), for a bound on when it started.
LONGEST_SEND = timedelta(minutes=10)
_DIGITS = 9  # numbers compare by their last digits: a report may spell them national or E.164

K = TypeVar("K")


@dataclass(frozen=True)
class SentPart(Generic[K]):
    """A part as the caller knows it; `key` is whatever the caller needs back (a row id)."""

    key: K
    number: str
    reference: int | None
    submitted_at: datetime | None = None  # when the send started
    sent_at: datetime | None = None  # when the modem answered +CMGS


def same_number(a: str, b: str) -> bool:
    digits_a, digits_b = re.sub(r"\D", "", a), re.sub(r"\D", "", b)
    return bool(digits_a) and digits_a[-_DIGITS:] == digits_b[-_DIGITS:]


def could_answer(report: StatusReport, part: SentPart[K], skew: timedelta = SMSC_CLOCK_SKEW) -> bool:
    """Same reference and number, and the SCTS within the part's send (widened by `skew`); a part
    without times (known only by number and reference) is bounded by nothing."""
    if part.reference != report.reference or not same_number(report.recipient, part.number):
        return False
    started = part.submitted_at or part.sent_at
    if started is None:
        return True
    answered = part.sent_at or started
    return started - skew <= report.sent_at <= answered + skew and started - skew <= report.discharged_at


def best_match(report: StatusReport, parts: Iterable[SentPart[K]],
               skew: timedelta = SMSC_CLOCK_SKEW) -> SentPart[K] | None:
    """The part `report` answers, or None: of those it could answer, the one sent nearest its SCTS
    (parts without times come last)."""
    def distance(part: SentPart[K]) -> timedelta:
        when = part.sent_at or part.submitted_at
        return abs(report.sent_at - when) if when is not None else timedelta.max

    possible = [part for part in parts if could_answer(report, part, skew)]
    return min(possible, key=distance) if possible else None


def submitted_between(report: StatusReport, skew: timedelta = SMSC_CLOCK_SKEW) -> tuple[datetime, datetime]:
    """When a part `report` could answer started its send: a range for a database to narrow its
    candidates by before `best_match` decides."""
    return report.sent_at - skew - LONGEST_SEND, min(report.sent_at, report.discharged_at) + skew


def matches_any(report: StatusReport, outstanding: Iterable[tuple[str, int | None]]) -> bool:
    """Does `report` answer one of these (number, reference) pairs, sent just now (a technician's
    test send)?"""
    return best_match(report, [SentPart(i, number, ref) for i, (number, ref) in enumerate(outstanding)]) is not None
