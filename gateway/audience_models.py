"""Audience tables: contacts, tags, groups, the consent ledger, inbound messages and conversations.

Portable SQL only (SQLite now, PostgreSQL later). The consent ledger is append-only: a contact's
consent is whatever its newest opt-in/opt-out event says, so the record of who agreed to what, when
and how is never rewritten.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base, UtcDateTime


class ConsentKind:
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    REQUESTED = "opt_in_requested"  # double opt-in: "Reply YES to confirm" was sent; no consent yet
    ALL = frozenset({OPT_IN, OPT_OUT, REQUESTED})


class ConsentScope:
    MARKETING = "marketing"  # STOP: no more marketing
    ALL = "all"  # STOPALL: nothing at all except the confirmation of this very request
    VALUES = frozenset({MARKETING, ALL})


class ConsentSource:
    KEYWORD = "keyword"  # an SMS from the handset (STOP, START, YES...)
    WEB_FORM = "web_form"
    IMPORT = "import"  # CSV import with declared proof
    API = "api"
    STAFF = "staff"
    VALUES = frozenset({KEYWORD, WEB_FORM, IMPORT, API, STAFF})


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))  # BCP 47 primary tag: "en", "ru"
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA; derived from the number when unknown
    timezone_guessed: Mapped[bool] = mapped_column(Boolean, default=False)  # the country's main zone, not stated
    birthday: Mapped[date | None] = mapped_column(Date)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # custom fields
    flag: Mapped[str | None] = mapped_column(String(16))  # "invalid" | "unreachable": kept off audiences
    flag_reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="staff")  # how it came: import, inbound, api...
    last_inbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_clicked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # set by link tracking
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class ContactTag(Base):
    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True, index=True)


class Group(Base):
    """A list people join (keyword JOIN, import, staff); campaigns go to groups."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupMember(Base):
    __tablename__ = "group_members"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsentEvent(Base):
    """One opt-in, opt-out or opt-in request. Append-only: never updated, never deleted."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(20))  # ConsentKind
    scope: Mapped[str] = mapped_column(String(16), default=ConsentScope.MARKETING)
    source: Mapped[str] = mapped_column(String(16))  # ConsentSource
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str | None] = mapped_column(Text)  # proof, the form, the staff member, the SMS text
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))

    __table_args__ = (Index("ix_consent_events_contact", "contact_id", "id"),)


class Conversation(Base):
    """The thread between one customer and one of our SIMs (replies come from the SIM they wrote to)."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164, or the raw sender ("VODAFONE")
    sim: Mapped[str] = mapped_column(String(64))
    unread: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("number", "sim"),)


class InboundMessage(Base):
    """A received SMS after reassembly: one row per message, however many parts it came in."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    parts: Mapped[int] = mapped_column(Integer, default=1)  # parts that arrived
    parts_expected: Mapped[int] = mapped_column(Integer, default=1)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)  # False: stored after the timeout
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    keyword: Mapped[str | None] = mapped_column(String(64))  # the keyword it matched, if any
    action: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class InboundMessagePart(Base):
    """Which stored inbound_parts rows make up a message (a part belongs to one message at most)."""

    __tablename__ = "inbound_message_parts"

    inbound_part_id: Mapped[int] = mapped_column(ForeignKey("inbound_parts.id"), primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), index=True)


class Keyword(Base):
    """A configurable keyword. Defaults are seeded at start; built-in opt-out words cannot be disabled."""

    __tablename__ = "keywords"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(64), unique=True)  # normalised (keywords.normalise)
    label: Mapped[str] = mapped_column(String(64))  # as written by whoever set it up
    action: Mapped[str] = mapped_column(String(16))  # opt_out, opt_out_all, opt_in, help, join, reply
    group_name: Mapped[str | None] = mapped_column(String(100))  # for join
    reply: Mapped[str | None] = mapped_column(Text)  # None: the default text for the action and language
    language: Mapped[str | None] = mapped_column(String(16))  # language of the word itself
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
