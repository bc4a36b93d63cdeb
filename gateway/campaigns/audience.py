"""Who a campaign is for: contacts in any of its groups, with any of its tags, or matching its
segment, each once; read in batches by contact id, with each batch's consent read from the ledger
in one query, so a 100k-contact audience never sits in memory at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from gateway.audience import segments
from gateway.audience.models import Contact, ContactTag, Group, GroupMember, Tag
from gateway.campaigns.errors import CampaignError
from gateway.consent.ledger import ConsentState, EventView, derive
from gateway.consent.rules import HELD
from gateway.consent.models import ConsentEvent


MAX_DEPTH = 20  # a segment's nesting: deeper is a mistake, and would exhaust the stack turning it into SQL


@dataclass(frozen=True)
class Member:
    id: int
    number: str
    name: str | None
    language: str | None
    timezone: str | None
    fields: dict[str, Any] | None
    flag: str | None


def resolve(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    """The audience as stored: group ids (from names or ids), tag names, the segment checked.
    Raises CampaignError naming the field of what does not exist or is malformed."""
    groups: list[int] = []
    for i, ref in enumerate(spec.get("groups") or []):
        query = select(Group.id).where(Group.id == ref if isinstance(ref, int) else Group.name == ref)
        found = session.scalar(query)
        if found is None:
            raise CampaignError(field=f"audience.groups[{i}]", reason=f"no group {ref!r}")
        if found not in groups:
            groups.append(found)
    tags: list[str] = []
    for i, name in enumerate(spec.get("tags") or []):
        if session.scalar(select(Tag.id).where(Tag.name == name)) is None:
            raise CampaignError(field=f"audience.tags[{i}]", reason=f"no tag {name!r}")
        if name not in tags:
            tags.append(name)
    segment = spec.get("segment")
    if segment is not None:
        if _depth(segment) > MAX_DEPTH:
            raise CampaignError(field="audience.segment", reason=f"nested deeper than {MAX_DEPTH} rules")
        try:
            segments.parse(segment)
        except segments.SegmentError as exc:
            raise CampaignError(field="audience.segment", reason=str(exc)) from None
    if not groups and not tags and segment is None:
        raise CampaignError(field="audience", reason="name at least one group, tag or segment")
    return {"groups": groups, "tags": tags, "segment": segment}


def _depth(value: Any, limit: int = 100) -> int:
    """How deeply a JSON value nests (counted no further than `limit`), without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth < limit and isinstance(item, (dict, list)):
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def condition(spec: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    """In any group, with any tag, or in the segment (a stored, resolved audience)."""
    parts: list[ColumnElement[bool]] = []
    if spec.get("groups"):
        parts.append(Contact.id.in_(select(GroupMember.contact_id).where(GroupMember.group_id.in_(spec["groups"]))))
    if spec.get("tags"):
        parts.append(Contact.id.in_(select(ContactTag.contact_id).join(Tag, Tag.id == ContactTag.tag_id)
                                    .where(Tag.name.in_(spec["tags"]))))
    if spec.get("segment") is not None:
        parts.append(segments.condition(segments.parse(spec["segment"]), now))
    return or_(false(), *parts)


def members(conn: Connection, spec: dict[str, Any], now: datetime, *, after: int, limit: int) -> list[Member]:
    """The next `limit` members with a contact id above `after`, in id order."""
    rows = conn.execute(select(Contact.id, Contact.number, Contact.name, Contact.language, Contact.timezone,
                               Contact.fields, Contact.flag)
                        .where(condition(spec, now), Contact.id > after).order_by(Contact.id).limit(limit))
    return [Member(*row) for row in rows]


def consent_of(conn: Connection, contact_ids: Sequence[int]) -> dict[int, ConsentState]:
    """Each contact's consent now, derived from its ledger (one query for the batch)."""
    events: dict[int, list[EventView]] = defaultdict(list)
    if contact_ids:
        rows = conn.execute(select(ConsentEvent.contact_id, ConsentEvent.kind, ConsentEvent.scope,
                                   ConsentEvent.source, ConsentEvent.at)
                            .where(ConsentEvent.contact_id.in_(list(contact_ids)))
                            .order_by(ConsentEvent.contact_id, ConsentEvent.id))
        for contact_id, *event in rows:
            events[contact_id].append(EventView(*event))
    return {contact_id: derive(events.get(contact_id, ())) for contact_id in contact_ids}


def skip_reason(flag: str | None, consent: ConsentState, held: bool = False) -> str | None:
    """Why a member gets no marketing at all (pure); None: it may be texted. The frequency cap and
    quiet hours change by the hour: the send-time check applies them to each message."""
    if flag == "invalid":
        return "invalid number"
    if flag is not None:
        return f"{flag} number"
    if consent.opted_out:
        return "opted out"
    if held:
        return HELD
    if not consent.marketing_allowed:
        return "awaiting double opt-in confirmation" if consent.status == "pending" else "no consent"
    return None



@dataclass(frozen=True)
class Count:
    matching: int  # contacts in any of the groups, with any of the tags, or in the segment
    reachable: int  # of those, who may get marketing now (consented, no invalid or unreachable flag)


def count(session: Session, spec: dict[str, Any], now: datetime) -> Count:
    """How many contacts a resolved audience (`resolve`'s) holds now, and how many of them may get
    marketing: the figures the console shows while the audience is chosen. Who may is decided by
    `segments.audience`, the rule a segment's count uses; the dry run then says why each other is skipped."""
    from sqlalchemy import func

    where = condition(spec, now)
    matching = session.scalar(select(func.count()).select_from(Contact).where(where))
    reachable = session.scalar(select(func.count()).select_from(
        segments.audience(None, now).where(where).order_by(None).subquery()))
    return Count(int(matching or 0), int(reachable or 0))
