"""Messages sent, delivered and failed per hour and per day, in the shop's timezone, for the dashboard.

Why this shape: the counts come from index ranges (ix_messages_sent_at, ix_messages_status_finished),
one count of an index range per bucket and series: no scan of the messages table and no rollup table
to keep in step. The bounds are computed here in the shop's zone, so
an hour or a day is the shop's (a DST day has 23 or 25 hours; the autumn night shows its 01:00 twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, ColumnElement, bindparam, func, select

from gateway.outbound.models import Message, MessageStatus

HOURS = 24
DAYS = 30
SERIES = ("sent", "delivered", "failed")


@dataclass(frozen=True)
class History:
    """Bucket starts (aware, in the shop's zone), oldest first, and per series a count per bucket."""

    starts: tuple[datetime, ...]
    counts: dict[str, tuple[int, ...]]


def hour_bounds(now: datetime, zone: ZoneInfo, hours: int = HOURS) -> list[datetime]:
    """The starts of the last `hours` local hours (the current one last) and the end of the current one, in UTC.

    The current hour is floored in local time (a half-hour zone's hours start at :30 UTC); from there the
    hours are real hours, 3600 s each, whatever the clocks did."""
    local = now.astimezone(zone)
    start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    if start > now:  # a fold: the floor landed in the first 01:00 while now is in the second
        start -= timedelta(hours=1)
    return [start - timedelta(hours=hours - 1 - k) for k in range(hours + 1)]


def day_bounds(now: datetime, zone: ZoneInfo, days: int = DAYS) -> list[datetime]:
    """The local midnights starting the last `days` days (today last) and the next one, in UTC."""
    today = now.astimezone(zone).date()
    return [local_midnight(today - timedelta(days=days - 1 - k), zone) for k in range(days + 1)]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def bucket_counts(conn: Connection, column: ColumnElement[datetime], bounds: list[datetime],
                  *where: ColumnElement[bool]) -> tuple[int, ...]:
    """Rows whose `column` falls in each [bounds[i], bounds[i+1]): a count of one index range per bucket
    (measured faster than one query bucketing by CASE, which compares every row with every bound)."""
    query = select(func.count()).select_from(Message).where(column >= bindparam("start"), column < bindparam("end"),
                                                             *where)
    return tuple(int(conn.execute(query, {"start": start, "end": end}).scalar_one())
                 for start, end in zip(bounds, bounds[1:]))


def history(conn: Connection, bounds: list[datetime], zone: ZoneInfo) -> History:
    """Sent (by when it went out), delivered and failed (by when that became final) per bucket."""
    counts = {
        "sent": bucket_counts(conn, Message.sent_at, bounds),
        "delivered": bucket_counts(conn, Message.finished_at, bounds, Message.status == MessageStatus.DELIVERED),
        "failed": bucket_counts(conn, Message.finished_at, bounds, Message.status == MessageStatus.FAILED),
    }
    return History(tuple(b.astimezone(zone) for b in bounds[:-1]), counts)


def per_hour(conn: Connection, now: datetime, zone: ZoneInfo, hours: int = HOURS) -> History:
    return history(conn, hour_bounds(now, zone, hours), zone)


def per_day(conn: Connection, now: datetime, zone: ZoneInfo, days: int = DAYS) -> History:
    return history(conn, day_bounds(now, zone, days), zone)
