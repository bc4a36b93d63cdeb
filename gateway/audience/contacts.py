"""Contacts: one row per E.164 number, found or created, with its groups, tags and cleanliness flags.

Numbers are normalised with phonenumbers (so '07700 900123' and '+44 7700 900123' are one contact);
the timezone comes from the number when nobody said otherwise, so quiet hours follow the customer.
Where the numbering plan spans several zones (mobiles of Russia, Australia, Spain...) the country's
most populous zone is taken and recorded as a guess (`Contact.timezone_guessed`), so whoever looks
at the contact sees it and can state the right one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from phonenumbers import timezone as number_timezones
from sqlalchemy import Connection, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.audience.models import UNREACHABLE, Contact, ContactTag, Group, GroupMember, Tag
from gateway.core.clock import Clock
from gateway.core.numbers import normalise
from gateway.outbound import change_facts
from gateway.outbound.models import Message, MessageStatus
from gateway.store.db import Prepared

log = logging.getLogger("gsmgw.contacts")
UNREACHABLE_AFTER = 3  # consecutive failed messages before a number is flagged unreachable


# The zone most of a country's people live in, for countries of several zones whose numbers
# (mostly mobiles) phonenumbers cannot pin to one.
MOST_POPULOUS = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney", "BR": "America/Sao_Paulo",
    "CA": "America/Toronto", "CD": "Africa/Kinshasa", "CL": "America/Santiago", "EC": "America/Guayaquil",
    "ES": "Europe/Madrid", "FM": "Pacific/Chuuk", "ID": "Asia/Jakarta", "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty", "MN": "Asia/Ulaanbaatar", "MX": "America/Mexico_City", "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti", "PG": "Pacific/Port_Moresby", "PT": "Europe/Lisbon", "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv", "US": "America/New_York",
}


@dataclass(frozen=True)
class NumberZone:
    """The timezone a number suggests: `name` None when nothing is known (the gateway's is used)."""

    name: str | None
    guessed: bool = False  # the country's most populous zone, not one the number pins


def parse_number(raw: str, default_region: str) -> tuple[str, NumberZone]:
    """(E.164, its zone). Raises InvalidNumber (a ValueError) saying what is wrong."""
    number = normalise(raw, default_region)
    return number, timezone_for(number)


def timezone_for(number: str) -> NumberZone:
    """The number's own zone when the numbering plan pins it to one; otherwise the country's most
    populous zone among the plan's candidates, as a guess; nothing if not even the country is known."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return NumberZone(None)
    zones = [z for z in number_timezones.time_zones_for_number(parsed) if z != number_timezones.UNKNOWN_TIMEZONE]
    if len(zones) == 1:
        return NumberZone(zones[0])
    populous = MOST_POPULOUS.get(phonenumbers.region_code_for_number(parsed) or "")
    if populous is not None and (not zones or populous in zones):
        return NumberZone(populous, guessed=True)
    return NumberZone(zones[0], guessed=True) if zones else NumberZone(None)


def find(session: Session, number: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.number == number))


def create(session: Session, number: str, *, now: datetime, source: str) -> Contact | None:
    """A new contact for an E.164 number, without consent; None if the number has one. The unique number
    decides, so of two transactions adding it at once (a check before would let both through) one gets None."""
    zone = timezone_for(number)
    contact = Contact(number=number, timezone=zone.name, timezone_guessed=zone.guessed, fields={}, source=source,
                      created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(contact)
    except IntegrityError:  # someone else created it a moment ago
        return None
    return contact


def find_or_create(session: Session, number: str, *, now: datetime, source: str) -> tuple[Contact, bool]:
    """The contact for an E.164 number, created (without consent) if new. (contact, created)."""
    contact = find(session, number)
    if contact is not None:
        return contact, False
    contact = create(session, number, now=now, source=source)
    if contact is not None:
        return contact, True
    existing = find(session, number)
    assert existing is not None
    return existing, False


def ensure_group(session: Session, name: str, now: datetime) -> Group:
    group = session.scalar(select(Group).where(Group.name == name))
    if group is None:
        group = Group(name=name, created_at=now)
        session.add(group)
        session.flush()
    return group


def ensure_tag(session: Session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
    return tag


def add_to_group(session: Session, contact: Contact, name: str, *, source: str, now: datetime) -> bool:
    """True if the contact was not in the group yet."""
    group = ensure_group(session, name, now)
    if session.get(GroupMember, (contact.id, group.id)) is not None:
        return False
    session.add(GroupMember(contact_id=contact.id, group_id=group.id, source=source, added_at=now))
    session.flush()
    return True


def add_tag(session: Session, contact: Contact, name: str) -> bool:
    tag = ensure_tag(session, name)
    if session.get(ContactTag, (contact.id, tag.id)) is not None:
        return False
    session.add(ContactTag(contact_id=contact.id, tag_id=tag.id))
    session.flush()
    return True


def groups_of(session: Session, contact_id: int) -> list[str]:
    return list(session.scalars(select(Group.name).join(GroupMember, GroupMember.group_id == Group.id)
                                .where(GroupMember.contact_id == contact_id).order_by(Group.name)).all())


_RECIPIENT = select(Message.to_number).where(Message.id == bindparam("message_id")).scalar_subquery()
_CLEAR_UNREACHABLE = Prepared(update(Contact).where(Contact.number == _RECIPIENT, Contact.flag == UNREACHABLE)
                      .values(flag=None, flag_reason=None, updated_at=bindparam("now")))
_FLAG_UNREACHABLE = Prepared(update(Contact).where(Contact.number == _RECIPIENT, Contact.flag.is_(None))
                     .values(flag=UNREACHABLE, flag_reason=f"the last {UNREACHABLE_AFTER} messages failed",
                             updated_at=bindparam("now")).returning(Contact.number))
_LAST_OUTCOMES = Prepared(select(Message.status).where(
    Message.to_number == _RECIPIENT, or_(Message.status == MessageStatus.FAILED, Message.status == MessageStatus.DELIVERED))
    .order_by(Message.id.desc()).limit(UNREACHABLE_AFTER))


class ContactHealth:
    """Queue status hook: a number whose last few messages all failed is flagged `unreachable` (kept
    off audiences); a delivery clears the flag. Lists stay clean without anyone pruning them, and
    the flag changes in the same transaction as the status that decided it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, conn: Connection, message_id: int, status: str) -> None:
        if status == MessageStatus.DELIVERED:
            known = change_facts.known(message_id)  # the statement that ended it returned the flag
            if known is not None and not known.recipient_unreachable:
                return
            _CLEAR_UNREACHABLE(conn, {"message_id": message_id, "now": self.clock.now()})
        elif status == MessageStatus.FAILED:
            outcomes = _LAST_OUTCOMES(conn, {"message_id": message_id}).scalars()
            if len(outcomes) == UNREACHABLE_AFTER and all(s == MessageStatus.FAILED for s in outcomes):
                flagged = _FLAG_UNREACHABLE(conn, {"message_id": message_id, "now": self.clock.now()}).first()
                if flagged is not None:
                    log.info("contact %s flagged unreachable", flagged.number)


def matching(session: Session, text: str, *, limit: int = 20) -> list[Contact]:
    """Contacts whose name contains `text` (any case) or whose number contains its digits, by
    name: what a compose box's contact picker offers."""
    text = text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text:
        return []
    # SQLite's lower() folds only ASCII: the usual spellings of a Cyrillic or Greek name are tried as written
    conditions = [func.lower(Contact.name).contains(text.lower(), autoescape=True)]
    conditions += [Contact.name.contains(form, autoescape=True)
                   for form in dict.fromkeys((text, text.capitalize(), text.title(), text.upper()))]
    if digits:
        conditions.append(Contact.number.contains(digits, autoescape=True))
    return list(session.scalars(select(Contact).where(or_(*conditions))
                                .order_by(Contact.name, Contact.id).limit(limit)))
