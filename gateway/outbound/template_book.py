"""The shop's message templates: what a name, a body and a kind must be, and storing them.

The REST API (/api/v1/templates) and the console both write through here, so a template one of
them accepts the other accepts too. `preview` is a contact's final text with its encoding and
parts, through the same code the campaigns' dry run uses (`campaigns.personal.Body`: placeholders
and fallbacks by `templating`, parts by `modem.encoding`, as the modem will send them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.outbound.models import MessageTemplate
from gateway.outbound.new_message import MAX_TEXT
from gateway.outbound.templating import TemplateError, placeholders

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
MAX_BODY = MAX_TEXT
KINDS = ("transactional", "marketing")
_NAME = re.compile(NAME_PATTERN)


class TemplateRefused(ValueError):
    """A template that cannot be stored, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def body_problem(body: str) -> str | None:
    """What is wrong with a body (a broken placeholder), or None."""
    try:
        placeholders(body)
    except TemplateError as exc:
        return str(exc)
    return None


def _checked(name: str | None, body: str, kind: str) -> None:
    if name is not None and not _NAME.match(name):
        raise TemplateRefused("name", "a name is letters, digits, '.', '_' or '-', starting with a letter or digit, "
                                      "at most 100 characters")
    if not body:
        raise TemplateRefused("body", "the text is empty")
    if len(body) > MAX_BODY:
        raise TemplateRefused("body", f"the text is {len(body)} characters (at most {MAX_BODY})")
    problem = body_problem(body)
    if problem:
        raise TemplateRefused("body", problem)
    if kind not in KINDS:
        raise TemplateRefused("kind", f"kind is one of {', '.join(KINDS)}")


def find(session: Session, name: str) -> MessageTemplate | None:
    return session.scalar(select(MessageTemplate).where(MessageTemplate.name == name))


def listing(session: Session) -> list[MessageTemplate]:
    """Every template by name (a shop has tens, not thousands)."""
    return list(session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)).all())


def create(session: Session, name: str, body: str, kind: str, now: datetime) -> MessageTemplate:
    """A new template in the caller's transaction; refused if the name is taken or anything is wrong."""
    _checked(name, body, kind)
    if find(session, name) is not None:
        raise TemplateRefused("name", f"a template named {name!r} exists")
    row = MessageTemplate(name=name, body=body, kind=kind, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def change(session: Session, row: MessageTemplate, body: str, kind: str, now: datetime) -> MessageTemplate:
    """A template's new text and kind (its name stays: API callers send by name)."""
    _checked(None, body, kind)
    row.body, row.kind, row.updated_at = body, kind, now
    session.flush()
    return row


@dataclass(frozen=True)
class Preview:
    text: str | None  # None: the contact lacks a value the template needs (`problem` says which)
    encoding: str | None
    parts: int
    characters: int
    warning: str | None  # the contact's values cost UCS-2 or a part more than the template's own words
    problem: str | None
    plain_parts: int  # the template's own words (literal text and fallbacks) alone


def preview(body: str, name: str | None, fields: dict | None, language: str | None = None) -> Preview:
    """The text a contact with this name and these fields would get, and what it costs."""
    from gateway.campaigns.personal import Body
    from modem.encoding import segment_info

    parsed = Body(body, footer=False)
    personal = parsed.for_contact(name, fields, language)
    return Preview(personal.text, personal.encoding, personal.parts, len(personal.text or ""), personal.warning,
                   personal.problem, segment_info(parsed.plain).parts)
