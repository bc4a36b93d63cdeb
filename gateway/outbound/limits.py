"""Per-SIM send limits as rolling windows, counted in SMS parts. Pure: times in, times out.

Carriers count parts and block SIMs that send too fast. A fixed window (reset at the top of the hour)
allows a double burst across the boundary; a rolling window over the actual send times does not. The
send times themselves are the parts' `submitted_at` in the database, so a restart resets nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
MONTH = 30 * DAY  # rolling 30 days: never more than a calendar month allows


@dataclass(frozen=True)
class Limits:
    """Caps in parts; 0 means no cap."""

    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0
    per_month: int = 0
    min_gap_s: float = 0.0

    def windows(self) -> list[tuple[str, float, int]]:
        return [(name, span, cap) for name, span, cap in (
            ("minute", MINUTE, self.per_minute), ("hour", HOUR, self.per_hour),
            ("day", DAY, self.per_day), ("month", MONTH, self.per_month)) if cap > 0]

    @property
    def longest_window(self) -> float:
        return max((span for _, span, _ in self.windows()), default=MINUTE)


@dataclass(frozen=True)
class WindowUse:
    window: str
    used: int
    cap: int

    @property
    def left(self) -> int:
        return max(0, self.cap - self.used)


def next_slot(times: Sequence[float], limits: Limits, now: float, parts: int = 1) -> float:
    """The earliest moment >= now at which `parts` more parts may go out.

    `times` are past submission times, sorted ascending. Each window alone gives a lower bound (wait
    until enough old sends leave it); moving later only lets more leave, so the latest bound is the
    answer. A message larger than a cap can never satisfy it; it is allowed to start once the window
    is empty, so a long text is not stuck forever behind a small per-minute cap.
    """
    earliest = now
    if times and limits.min_gap_s:
        earliest = max(earliest, times[-1] + limits.min_gap_s)
    for _, span, cap in limits.windows():
        start = bisect.bisect_right(times, now - span)
        recent = times[start:]
        needed = min(parts, cap)
        excess = len(recent) + needed - cap
        if excess > 0:
            earliest = max(earliest, recent[excess - 1] + span)
    return earliest


def usage(times: Sequence[float], limits: Limits, now: float) -> list[WindowUse]:
    """Parts used per window at `now`, for display (used/left)."""
    return [WindowUse(name, len(times) - bisect.bisect_right(times, now - span), cap)
            for name, span, cap in limits.windows()]


def prune(times: list[float], limits: Limits, now: float) -> None:
    """Drop times older than every window, in place (keeps memory bounded)."""
    cut = bisect.bisect_right(times, now - max(limits.longest_window, limits.min_gap_s))
    del times[:cut]
