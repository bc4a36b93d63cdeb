"""The contact list as people keep it by hand: search, one contact's details saved, a contact erased,
groups with their member counts.

Search stays on indexes at 100,000 contacts: a number by its E.164 prefix (the unique index), a name
by its prefix (`ix_contacts_name`, tried as typed, lower case, capitalised and in capitals, since
SQLite compares bytes and Python knows the cases of every script), a tag or group by name (their
indexes); pages go by contact id, newest first, never by OFFSET.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from gateway.audience import contacts
from gateway.audience.contacts_csv import LANGUAGE_CODE
from gateway.audience.models import Contact, ContactTag, Group, GroupMember, Tag
from gateway.consent import ledger
from gateway.consent.models import ConsentKind

PAGE = 50
MAX_NAME = 200
MAX_TAG = 100
MAX_FIELDS = 50
_NUMBERISH = re.compile(r"[+\d][\d\s().-]*")


# the consent filters of the list: the ledger's decision each one means
CONSENT_FILTERS = {"opted_in": ConsentKind.OPT_IN, "opted_out": ConsentKind.OPT_OUT}


@dataclass(frozen=True)
class Search:
    text: str = ""  # part of a number (its start) or of a name (its start)
    tag: str = ""
    group: str = ""
    before: int | None = None  # the page after: contacts with a smaller id
    consent: str = ""  # CONSENT_FILTERS: whose newest decision is an opt-in, or an opt-out; "": anyone


@dataclass(frozen=True)
class Page:
    contacts: list[Contact]
    next_before: int | None  # None: this is the last page


def search(session: Session, query: Search, default_region: str, *, page: int = PAGE) -> Page:
    """One page of contacts matching every criterion given, newest first."""
    statement = select(Contact)
    text = query.text.strip()
    if text:
        statement = statement.where(_text_condition(text, default_region))
    if query.tag.strip():  # the tag's members from its index, not every contact checked for the tag
        statement = statement.where(Contact.id.in_(select(ContactTag.contact_id).join(Tag, Tag.id == ContactTag.tag_id)
                                                   .where(Tag.name == query.tag.strip())))
    if query.group.strip():
        statement = statement.where(Contact.id.in_(select(GroupMember.contact_id)
                                                   .join(Group, Group.id == GroupMember.group_id)
                                                   .where(Group.name == query.group.strip())))
    if query.consent in CONSENT_FILTERS:
        statement = statement.where(ledger.newest_decision_is(CONSENT_FILTERS[query.consent]))
    if query.before is not None:
        statement = statement.where(Contact.id < query.before)
    rows = list(session.scalars(statement.order_by(Contact.id.desc()).limit(page + 1)).all())
    more = len(rows) > page
    rows = rows[:page]
    return Page(rows, rows[-1].id if more and rows else None)


def _prefix(column: ColumnElement[str], start: str) -> ColumnElement[bool]:
    """`column` starts with `start`, as a range an index can answer (no LIKE, whose case rules differ)."""
    return and_(column >= start, column < start[:-1] + chr(ord(start[-1]) + 1))


def number_prefixes(text: str, default_region: str) -> list[str]:
    """The E.164 starts a typed number may mean (pure): '+44 7700' as written; '07700' also in the
    gateway's own country (+447700); bare digits also as an international start."""
    digits = re.sub(r"\D", "", text)
    if not digits or not _NUMBERISH.fullmatch(text.strip()):
        return []
    if text.strip().startswith("+"):
        return ["+" + digits]
    if digits.startswith("00"):
        return ["+" + digits[2:]] if digits[2:] else []
    starts = ["+" + digits]
    code = phonenumbers.country_code_for_region(default_region)
    if digits.startswith("0") and code:
        starts.append(f"+{code}{digits[1:]}")
    elif code:
        starts.append(f"+{code}{digits}")
    return [s for s in dict.fromkeys(starts) if len(s) > 1]


def name_variants(text: str) -> list[str]:
    """The cases a name may be stored in (pure): as typed, lower, capitalised words, upper."""
    return list(dict.fromkeys(v for v in (text, text.lower(), text.title(), text.capitalize(), text.upper()) if v))


def _text_condition(text: str, default_region: str) -> ColumnElement[bool]:
    conditions = [_prefix(Contact.name, variant) for variant in name_variants(text)]
    conditions += [_prefix(Contact.number, start) for start in number_prefixes(text, default_region)]
    return or_(*conditions)


# ---- one contact ---------------------------------------------------------------------------------
class DetailsError(ValueError):
    """A field of a contact's details is wrong: `field` names it, the message says why."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name


@dataclass
class Details:
    """What a person edits of a contact (consent is not here: it lives in the ledger)."""

    number: str
    name: str | None = None
    language: str | None = None
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def names_of(text: str, limit: int = MAX_TAG) -> list[str]:
    """Tags or groups typed as "a, b; c" (pure): trimmed, no empties, each once, in order."""
    return list(dict.fromkeys(n.strip()[:limit] for n in re.split(r"[,;\n]", text or "") if n.strip()))


def fields_of(text: str) -> dict[str, str]:
    """Custom fields typed one per line as "key: value" (pure). Raises DetailsError for a line without one."""
    out: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise DetailsError("fields", f"line {number}: write it as name: value")
        out[key.strip()[:100]] = value.strip()[:1000]
    if len(out) > MAX_FIELDS:
        raise DetailsError("fields", f"at most {MAX_FIELDS} custom fields")
    return out


def checked(details: Details, default_region: str) -> Details:
    """The details with the number in E.164 and the language checked; DetailsError names what is wrong."""
    try:
        number, _ = contacts.parse_number(details.number, default_region)
    except ValueError as exc:  # InvalidNumber says what is wrong with it
        raise DetailsError("number", str(exc)) from None
    language = (details.language or "").strip() or None
    if language is not None and not LANGUAGE_CODE.fullmatch(language):
        raise DetailsError("language", f"{language!r} is not a language code (en, ar, ru, zh, pt-BR...)")
    name = (details.name or "").strip()[:MAX_NAME] or None
    return Details(number, name, language.lower() if language else None, list(details.tags), list(details.groups),
                   dict(details.fields))


def save(session: Session, contact: Contact | None, details: Details, *, now: datetime, default_region: str,
         source: str = "staff") -> Contact:
    """Create (contact None) or change a contact from its details; tags and groups become exactly those
    given. DetailsError if the number is wrong, another contact has it, or it would change on a contact
    with a consent history (an opt-in given from one number never covers another)."""
    details = checked(details, default_region)
    other = contacts.find(session, details.number)
    if other is not None and (contact is None or other.id != contact.id):
        raise DetailsError("number", f"{details.number} is already the number of another contact")
    if contact is None:
        contact = contacts.create(session, details.number, now=now, source=source)
        if contact is None:
            raise DetailsError("number", f"{details.number} is already the number of another contact")
    elif contact.number != details.number:
        if ledger.history(session, contact.id):
            # consent was given (or refused) by whoever had the old number: it must not pass to a new one
            raise DetailsError("number", f"{contact.number} has a consent history, which belongs to that number: "
                                         "add the new number as a new contact")
        zone = contacts.timezone_for(details.number)
        contact.number = details.number
        if contact.timezone_guessed or contact.timezone is None:
            contact.timezone, contact.timezone_guessed = zone.name, zone.guessed
    contact.name, contact.language = details.name, details.language
    contact.fields = details.fields
    contact.updated_at = now
    set_tags(session, contact, details.tags)
    set_groups(session, contact, details.groups, source=source, now=now)
    session.flush()
    return contact


def set_tags(session: Session, contact: Contact, names: Iterable[str]) -> None:
    """The contact's tags become exactly `names` (new tags are made)."""
    session.flush()
    session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    for name in dict.fromkeys(names):
        contacts.add_tag(session, contact, name)


def set_groups(session: Session, contact: Contact, names: Iterable[str], *, source: str, now: datetime) -> None:
    """The contact's groups become exactly `names` (new groups are made); kept memberships keep their date."""
    wanted = list(dict.fromkeys(names))
    session.flush()
    current = dict(session.execute(select(Group.name, Group.id).join(GroupMember, GroupMember.group_id == Group.id)
                                   .where(GroupMember.contact_id == contact.id)).all())
    gone = [group_id for name, group_id in current.items() if name not in wanted]
    if gone:
        session.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id, GroupMember.group_id.in_(gone)))
    for name in wanted:
        if name not in current:
            contacts.add_to_group(session, contact, name, source=source, now=now)


def tags_of(session: Session, contact_id: int) -> list[str]:
    return list(session.scalars(select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id)
                                .where(ContactTag.contact_id == contact_id).order_by(Tag.name)).all())


def tags_by_contact(session: Session, contact_ids: list[int]) -> dict[int, list[str]]:
    """Each listed contact's tags, in one query."""
    out: dict[int, list[str]] = {}
    if contact_ids:
        for contact_id, name in session.execute(
                select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id)
                .where(ContactTag.contact_id.in_(contact_ids)).order_by(Tag.name)).all():
            out.setdefault(contact_id, []).append(name)
    return out


def erase(session: Session, contact: Contact, now: datetime) -> bool:
    """Forget a contact's personal data: name, birthday, language, custom fields, tags and groups go;
    the number stays, so its opt-out keeps it off every list. True if it still needs that opt-out
    (the caller records it through `consent.optin.Audience`, which tells the webhooks)."""
    contact.name = contact.birthday = contact.language = None
    contact.fields, contact.updated_at = {}, now
    session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    session.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id))
    return not ledger.state_of(session, contact.id).opted_out


# ---- groups --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    members: int
    created_at: datetime


def groups_with_counts(session: Session) -> list[GroupRow]:
    """Every group with its member count, by name (one grouped query on the members' index)."""
    counts = (select(GroupMember.group_id, func.count().label("members")).group_by(GroupMember.group_id).subquery())
    rows = session.execute(select(Group.id, Group.name, func.coalesce(counts.c.members, 0), Group.created_at)
                           .outerjoin(counts, counts.c.group_id == Group.id).order_by(Group.name)).all()
    return [GroupRow(*row) for row in rows]


def group_names(session: Session) -> list[str]:
    return list(session.scalars(select(Group.name).order_by(Group.name)).all())


def rename_group(session: Session, group: Group, name: str) -> None:
    """DetailsError if the name is empty or another group has it."""
    name = name.strip()[:MAX_TAG]
    if not name:
        raise DetailsError("name", "a group needs a name")
    if session.scalar(select(Group.id).where(Group.name == name, Group.id != group.id)) is not None:
        raise DetailsError("name", f"a group named {name!r} exists")
    group.name = name


def create_group(session: Session, name: str, now: datetime) -> Group:
    """DetailsError if the name is empty or taken."""
    name = name.strip()[:MAX_TAG]
    if not name:
        raise DetailsError("name", "a group needs a name")
    if session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise DetailsError("name", f"a group named {name!r} exists")
    return contacts.ensure_group(session, name, now)


def delete_group(session: Session, group: Group) -> int:
    """Delete a group; its contacts stay. Returns how many were members."""
    gone = session.execute(delete(GroupMember).where(GroupMember.group_id == group.id)).rowcount
    session.delete(group)
    return int(gone or 0)
