"""Keywords in the database: the built-in ones seeded at start, custom ones added by staff.

Seeding only inserts what is missing, so a shop's edits (another reply text, a disabled INFO) stay,
and words added in a later version appear by themselves. Built-in opt-out words are honoured even if
a row says otherwise (see keywords.Matcher).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.consent import keywords
from gateway.consent.models import Keyword


def seed_defaults(session: Session, now: datetime) -> int:
    """Insert the built-in keywords that have no row yet; returns how many were added."""
    present = set(session.scalars(select(Keyword.word)).all())
    added = 0
    for rule in keywords.DEFAULTS:
        if rule.word not in present:
            session.add(Keyword(word=rule.word, label=rule.label, action=rule.action, language=rule.language,
                                enabled=True, builtin=True, created_at=now))
            added += 1
    session.flush()
    return added


def add(session: Session, label: str, action: str, *, now: datetime, group: str | None = None,
        reply: str | None = None, language: str | None = None) -> Keyword:
    """A custom keyword (e.g. JOIN FASHION -> group "fashion"). ValueError says what is wrong."""
    word = keywords.validate_word(label)
    if action not in keywords.ACTIONS:
        raise ValueError(f"action must be one of {', '.join(sorted(keywords.ACTIONS))}")
    if action == keywords.JOIN and not group:
        raise ValueError("a join keyword needs a group")
    if word in keywords.PROTECTED and action not in (keywords.OPT_OUT, keywords.OPT_OUT_ALL):
        raise ValueError(f"{label!r} is an opt-out word and must stay one")
    if session.scalar(select(Keyword).where(Keyword.word == word)) is not None:
        raise ValueError(f"keyword {label!r} exists already")
    row = Keyword(word=word, label=label.strip(), action=action, group_name=group, reply=reply,
                  language=language, enabled=True, builtin=False, created_at=now)
    session.add(row)
    session.flush()
    return row


class KeywordRefused(ValueError):
    """A change the keyword rules do not allow (an opt-out word off, a built-in word deleted)."""


def change(session: Session, row: Keyword, changes: dict) -> Keyword:
    """Turn a keyword on or off (`enabled`) or set its reply (`reply`, None: the default text).
    Opt-out words stay on: customers must always be able to use them."""
    if changes.get("enabled") is False and row.word in keywords.PROTECTED:
        raise KeywordRefused(f"{row.label!r} is an opt-out word: customers must always be able to use it")
    for name in ("enabled", "reply"):
        if name in changes:
            setattr(row, name, changes[name])
    return row


def delete(session: Session, row: Keyword) -> None:
    """Delete a custom keyword; built-in ones are turned off instead."""
    if row.builtin:
        raise KeywordRefused(f"{row.label!r} is built in: turn it off instead")
    session.delete(row)


def load(session: Session) -> keywords.Matcher:
    rows = session.scalars(select(Keyword)).all()
    configured = tuple(keywords.KeywordRule(r.word, r.action, r.label, r.language, r.group_name, r.reply, r.builtin)
                       for r in rows if r.enabled)
    disabled = frozenset(r.word for r in rows if not r.enabled)
    return keywords.Matcher(configured, disabled)
