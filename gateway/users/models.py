"""Tables of the console's people: users, the one-time setup code, the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


class User(Base):
    """Someone who signs in to the console. Only an argon2 hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | staff
    language: Mapped[str | None] = mapped_column(String(8))  # None: the browser's choice
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # set: cannot sign in (kept for the record)
    # when the user's sessions were last ended other than by a new password (a disable): part of
    # the session key, so enabling them again does not bring an old session back
    sessions_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SetupCode(Base):
    """The first-run code the daemon printed (a SHA-256 of it); deleted once an admin exists."""

    __tablename__ = "setup_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who did what, when, from where: written in the transaction of what it records."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(64))  # a user's name; None: the system or the CLI
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(64))  # the client's address, for web actions
