"""Rule segments and the consent-filtered audience query.

A segment is plain data (JSON from the console or API), checked by `parse` with a clear error for
the part at fault, then turned into one SQL condition on contacts:

    {"all": [{"tag": "vip"}, {"any": [{"group": "fashion"}, {"replied_within_days": 30}]},
             {"not": {"never_delivered": true}}, {"field": "city", "equals": "Leeds"}]}

Rules: tag, group, language, field (+ equals, or exists), replied_within_days, clicked_within_days,
never_delivered, and the combinators all / any / not. `audience()` adds what every marketing send
needs: consent now (the ledger's newest decision is an opt-in) and no invalid/unreachable flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, not_, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from gateway.audience.models import Contact, ContactTag, Group, GroupMember, Tag
from gateway.consent import ledger
from gateway.outbound.models import Message, MessageStatus


class SegmentError(ValueError):
    """Says which part of a segment is wrong."""


@dataclass(frozen=True)
class Rule:
    op: str  # all, any, not, tag, group, language, field, replied_within_days, clicked_within_days, never_delivered
    value: Any = None
    children: tuple[Rule, ...] = ()
    key: str | None = None  # field name


LEAVES = {"tag", "group", "language", "field", "replied_within_days", "clicked_within_days", "never_delivered"}


def parse(spec: Any, where: str = "segment") -> Rule:
    """Check a segment spec and build its rule tree (pure)."""
    if not isinstance(spec, dict) or not spec:
        raise SegmentError(f"{where}: must be an object with one rule")
    if "field" in spec:
        return _field(spec, where)
    if len(spec) != 1:
        raise SegmentError(f"{where}: one rule per object, got {', '.join(sorted(spec))}")
    (op, value), = spec.items()
    if op in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise SegmentError(f"{where}.{op}: must be a non-empty list of rules")
        return Rule(op, children=tuple(parse(item, f"{where}.{op}[{i}]") for i, item in enumerate(value)))
    if op == "not":
        return Rule(op, children=(parse(value, f"{where}.not"),))
    if op in ("tag", "group", "language"):
        if not isinstance(value, str) or not value.strip():
            raise SegmentError(f"{where}.{op}: must be a non-empty name")
        return Rule(op, value.strip())
    if op in ("replied_within_days", "clicked_within_days"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise SegmentError(f"{where}.{op}: must be a positive number of days")
        return Rule(op, float(value))
    if op == "never_delivered":
        if not isinstance(value, bool):
            raise SegmentError(f"{where}.{op}: must be true or false")
        return Rule(op, value)
    raise SegmentError(f"{where}: unknown rule {op!r} (known: all, any, not, {', '.join(sorted(LEAVES))})")


def _field(spec: dict[str, Any], where: str) -> Rule:
    key = spec["field"]
    if not isinstance(key, str) or not key:
        raise SegmentError(f"{where}.field: must be a field name")
    rest = set(spec) - {"field"}
    if rest == {"equals"} and isinstance(spec["equals"], str):
        return Rule("field", spec["equals"], key=key)
    if rest == {"exists"} and isinstance(spec["exists"], bool):
        return Rule("field", None if spec["exists"] else False, key=key)
    raise SegmentError(f"{where}: field rules take equals (a string) or exists (true/false)")


def condition(rule: Rule, now: datetime) -> ColumnElement[bool]:
    """The SQL condition on `Contact` for a rule tree. Every leaf is true or false, never NULL (an
    empty column is "false", not "unknown"), so `not` holds for contacts the rule knows nothing about."""
    if rule.op == "all":
        return and_(true(), *(condition(c, now) for c in rule.children))
    if rule.op == "any":
        return or_(false(), *(condition(c, now) for c in rule.children))
    if rule.op == "not":
        return not_(condition(rule.children[0], now))
    if rule.op == "tag":
        return exists(select(ContactTag.contact_id).join(Tag, Tag.id == ContactTag.tag_id)
                      .where(ContactTag.contact_id == Contact.id, Tag.name == rule.value))
    if rule.op == "group":
        return exists(select(GroupMember.contact_id).join(Group, Group.id == GroupMember.group_id)
                      .where(GroupMember.contact_id == Contact.id, Group.name == rule.value))
    if rule.op == "language":
        return _known(Contact.language, Contact.language == rule.value.lower())
    if rule.op == "field":
        assert rule.key is not None
        value = Contact.fields[rule.key].as_string()
        if rule.value is None:
            return value.is_not(None)
        if rule.value is False:
            return value.is_(None)
        return _known(value, value == rule.value)
    if rule.op == "replied_within_days":
        return _known(Contact.last_inbound_at, Contact.last_inbound_at >= now - timedelta(days=rule.value))
    if rule.op == "clicked_within_days":
        return _known(Contact.last_clicked_at, Contact.last_clicked_at >= now - timedelta(days=rule.value))
    if rule.op == "never_delivered":
        delivered = exists(select(Message.id).where(Message.to_number == Contact.number,
                                                    Message.status == MessageStatus.DELIVERED))
        return not_(delivered) if rule.value else delivered
    raise SegmentError(f"unknown rule {rule.op!r}")


def _known(column: Any, test: ColumnElement[bool]) -> ColumnElement[bool]:
    """`test`, and false (not NULL) where the column is empty."""
    return and_(column.is_not(None), test)


def audience(segment: Rule | None, now: datetime, *, require_consent: bool = True) -> Select[tuple[Contact]]:
    """Contacts in the segment who may get marketing now: consented, not flagged invalid/unreachable.
    (The send-time check still re-reads the ledger for each message: this is who to queue for.)"""
    query = select(Contact).where(Contact.flag.is_(None))
    if require_consent:
        query = query.where(Contact.id.in_(ledger.consented_contacts()))
    if segment is not None:
        query = query.where(condition(segment, now))
    return query.order_by(Contact.id)
