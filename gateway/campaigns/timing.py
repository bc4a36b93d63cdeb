"""When a campaign's message may go (pure): its sending window in the contact's timezone, and an
estimate of how long the whole campaign takes within the SIMs' limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.consent.rules import parse_hhmm

from gateway.outbound.limits import Limits


@dataclass(frozen=True)
class Window:
    """A daily sending window, e.g. 10:00-20:00, in each contact's own time; start == end: all day.
    One that crosses midnight (20:00-02:00) is allowed."""

    start: time
    end: time

    def contains(self, when: datetime, tz: ZoneInfo) -> bool:
        clock = when.astimezone(tz).time().replace(tzinfo=None)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def opens(self, when: datetime, tz: ZoneInfo) -> datetime:
        """`when` if it is inside the window, else the next time the window opens (aware, in
        `when`'s zone)."""
        if self.contains(when, tz):
            return when
        local = when.astimezone(tz)
        day = local.date() if local.time().replace(tzinfo=None) < self.start else local.date() + timedelta(days=1)
        return datetime.combine(day, self.start, tzinfo=tz).astimezone(when.tzinfo)

    def closes(self, when: datetime, tz: ZoneInfo) -> datetime:
        """When the window `when` is in closes (the caller checks that it is in one)."""
        local = when.astimezone(tz)
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz).astimezone(when.tzinfo)


@dataclass(frozen=True)
class Sim:
    """A SIM a campaign may go through, with the limits it sends under (for the dry run's ETA)."""

    name: str
    limits: Limits


def zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The contact's zone, or `default` when it has none (or one this system does not know)."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def window_of(start: str | None, end: str | None) -> Window | None:
    """A stored window ("10:00", "20:00"), None when the campaign has none."""
    if start is None or end is None:
        return None
    return Window(parse_hhmm(start), parse_hhmm(end))


def sim_seconds(parts: int, limits: Limits) -> float:
    """How long one SIM takes for `parts` from now, with nothing sent before: each rolling window
    lets its cap through per span, and `min_gap_s` spaces the sends."""
    if parts <= 0:
        return 0.0
    need = (parts - 1) * limits.min_gap_s
    for _name, span, cap in limits.windows():
        need = max(need, ((parts - 1) // cap) * span)
    return need


def eta_seconds(parts_by_sim: Mapping[str, int], limits_by_sim: Mapping[str, Limits]) -> float | None:
    """How long the whole campaign takes: its slowest SIM; None when a part has no SIM to go by."""
    if any(parts and name not in limits_by_sim for name, parts in parts_by_sim.items()):
        return None
    return float(max((sim_seconds(parts, limits_by_sim[name]) for name, parts in parts_by_sim.items()), default=0.0))


def estimated_eta(parts: int, limits_by_sim: Mapping[str, Limits]) -> float | None:
    """Before a campaign is saved (no dry run yet): `parts` spread evenly over the SIMs, as routing
    spreads a campaign with no history; the dry run's figure follows each recipient's SIM."""
    if not limits_by_sim:
        return None
    share, extra = divmod(max(parts, 0), len(limits_by_sim))
    spread = {name: share + (1 if i < extra else 0) for i, name in enumerate(sorted(limits_by_sim))}
    return eta_seconds(spread, limits_by_sim)
