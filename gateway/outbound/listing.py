"""Messages as lists show them: newest first, filtered, one page at a time.

The REST API's `GET /messages` and the console's messages log build their query here, so both
filter alike and seek on the same indexes (`ix_messages_status_id`, `to_number`, `campaign_id`,
each with the id for newest first); a page is the rows below a cursor id, one more read to know
whether another page follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.outbound.models import Message


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    to_number: str | None = None  # E.164
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    sim: str | None = None
    kind: str | None = None
    campaign_id: int | None = None


def query(filters: Filters) -> Select:
    """The messages the filters let through (not ordered, not limited)."""
    found = select(Message)
    if filters.status is not None:
        found = found.where(Message.status == filters.status)
    if filters.to_number is not None:
        found = found.where(Message.to_number == filters.to_number)
    if filters.since is not None:
        found = found.where(Message.created_at >= filters.since)
    if filters.until is not None:
        found = found.where(Message.created_at < filters.until)
    if filters.sim is not None:
        found = found.where(Message.sim == filters.sim)
    if filters.kind is not None:
        found = found.where(Message.kind == filters.kind)
    if filters.campaign_id is not None:
        found = found.where(Message.campaign_id == filters.campaign_id)
    return found


def newest_first(found: Select, *, before: int | None, limit: int) -> Select:
    """One page of `found`: `limit` + 1 rows below the id `before` (None: from the newest)."""
    paged = found.order_by(Message.id.desc()).limit(limit + 1)
    return paged.where(Message.id < before) if before is not None else paged


@dataclass(frozen=True)
class Page:
    messages: list[Message]
    next_before: int | None  # the cursor of the next page; None: this is the last


def page(sessions: sessionmaker[Session], filters: Filters, *, before: int | None = None, limit: int = 50) -> Page:
    with sessions() as session:
        rows = list(session.scalars(newest_first(query(filters), before=before, limit=limit)))
    shown = rows[:limit]
    return Page(shown, shown[-1].id if len(rows) > limit else None)
