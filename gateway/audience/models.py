"""Tables of the audience: contacts, tags and groups. Portable SQL only (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime

UNREACHABLE = "unreachable"  # Contact.flag of a number whose last messages all failed


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str | None] = mapped_column(String(200), index=True)  # the console searches names by prefix
    language: Mapped[str | None] = mapped_column(String(16))  # BCP 47 primary tag: "en", "ru"
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA; derived from the number when unknown
    timezone_guessed: Mapped[bool] = mapped_column(Boolean, default=False)  # the country's main zone, not stated
    birthday: Mapped[date | None] = mapped_column(Date)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # custom fields
    flag: Mapped[str | None] = mapped_column(String(16))  # "invalid" | UNREACHABLE: kept off audiences
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


class Segment(Base):
    """A named rule segment (`audience.segments` rules as JSON): who matches is decided when it is
    counted or sent to, so it follows the contacts as they change."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
