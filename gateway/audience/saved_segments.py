"""Named rule segments: a rule (`audience.segments`, the one evaluation the API and campaigns use)
kept under a name, and how many contacts it matches now.

The count has two figures because they answer two questions: who matches the rule, and of those who
may get marketing now (consent from the ledger, no invalid or unreachable flag), i.e. whom a
campaign to the segment would queue for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audience import segments
from gateway.audience.models import Contact, Segment

MAX_NAME = 100


@dataclass(frozen=True)
class Count:
    matching: int  # contacts the rule matches
    reachable: int  # of those, who may get marketing now


def count(session: Session, spec: Any, now: datetime) -> Count:
    """How many contacts the segment spec matches now. SegmentError says what is wrong with it."""
    rule = segments.parse(spec)
    matching = session.scalar(select(func.count()).select_from(Contact).where(segments.condition(rule, now)))
    reachable = session.scalar(select(func.count()).select_from(segments.audience(rule, now).subquery()))
    return Count(int(matching or 0), int(reachable or 0))


def all_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.name)).all())


def save(session: Session, segment: Segment | None, name: str, spec: Any, now: datetime) -> Segment:
    """Create (segment None) or change a segment. SegmentError for a bad rule, an empty or taken name."""
    name = (name or "").strip()[:MAX_NAME]
    if not name:
        raise SegmentError("name", "a segment needs a name")
    try:
        segments.parse(spec)
    except segments.SegmentError as exc:
        raise SegmentError("rule", str(exc)) from None
    taken = session.scalar(select(Segment.id).where(Segment.name == name))
    if taken is not None and (segment is None or taken != segment.id):
        raise SegmentError("name", f"a segment named {name!r} exists")
    if segment is None:
        segment = Segment(name=name, rule=spec, created_at=now, updated_at=now)
        session.add(segment)
    else:
        segment.name, segment.rule, segment.updated_at = name, spec, now
    session.flush()
    return segment


class SegmentError(ValueError):
    """What is wrong with a segment to be saved: `field` is name or rule."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
