"""How long a sent part waits for its status report, and what a message's reports say (pure).

One setting (`[reports] wait_hours`) is both the validity period every SMS-SUBMIT asks the SMSC for
and the wait: once it is over the SMSC has given up on the part, so a report that has not come will
not come (a modem that rebooted drops the reports it gets before its CNMI is set again). The part
is then recorded as having none (`PartStatus.NO_REPORT`); its message stays `sent`, since the
message states are a contract, and a report that still comes later is applied.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from gateway.outbound.models import PartStatus

DEFAULT_WAIT_HOURS = 72.0


def validity_minutes(wait: timedelta) -> int:
    """The validity period to ask for (whole minutes, not shorter than the wait; the PDU's TP-VP
    rounds it up again to a period it can say)."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def message_report(part_statuses: Iterable[str]) -> str | None:
    """What the status reports say about a message, by its parts: `failed` (a part's report said
    so), `awaiting` (a part went and its report may still come), `none` (no report will come for
    at least one part any more, the others delivered), `delivered` (every part), or None (no part
    went yet, or its fate is in doubt)."""
    statuses = list(part_statuses)
    if not statuses:
        return None
    if PartStatus.FAILED in statuses:
        return "failed"
    if PartStatus.SENT in statuses:
        return "awaiting"
    if all(s == PartStatus.DELIVERED for s in statuses):
        return "delivered"
    if all(s in (PartStatus.DELIVERED, PartStatus.NO_REPORT) for s in statuses):
        return "none"
    return None


def next_sweep_in(deadline_in: float | None, wait: timedelta) -> float | None:
    """Seconds until the sweep should record the next part without a report (None: none waits),
    never sooner than a tenth of the wait, so a short wait (a test, the soak) does not make the
    sweep run after every part."""
    if deadline_in is None:
        return None
    return max(deadline_in, wait.total_seconds() / 10)
