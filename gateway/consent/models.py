"""Tables of consent: the append-only ledger and the keywords that write to it.

A contact's consent is whatever its newest opt-in/opt-out event says, so the record of who agreed to
what, when and how is never rewritten.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


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
    KEYWORD_IN_TEXT = "keyword_in_text"  # an SMS from the handset starting with an opt-out word ("STOP texting me")
    WEB_FORM = "web_form"
    IMPORT = "import"  # CSV import with declared proof
    API = "api"
    STAFF = "staff"
    VALUES = frozenset({KEYWORD, KEYWORD_IN_TEXT, WEB_FORM, IMPORT, API, STAFF})
    FROM_HANDSET = frozenset({KEYWORD, KEYWORD_IN_TEXT})  # what only the customer's own SMS records


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

    __table_args__ = (Index("ix_consent_events_contact", "contact_id", "id"),
                      Index("ix_consent_events_kind_at", "kind", "at"))  # the opt-outs since a time (campaign results)


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


class OptOutRequestDecision:
    OPTED_OUT = "opted_out"  # staff read it as an opt-out and logged one (the ledger has it)
    NOT_AN_OPT_OUT = "not_an_opt_out"  # staff read it and it asks for something else
    VALUES = frozenset({OPTED_OUT, NOT_AN_OPT_OUT})


class OptOutRequest(Base):
    """A customer's text that reads like a request to stop ("please don't text me any more") but is no
    keyword: marketing to the contact is held until staff decide what it asks. Kept as evidence beside
    the ledger: what was read, when, and who decided what."""

    __tablename__ = "opt_out_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision: Mapped[str | None] = mapped_column(String(16))  # OptOutRequestDecision; None: pending
    decided_by: Mapped[str | None] = mapped_column(String(64))  # the console user

    __table_args__ = (Index("ix_opt_out_requests_contact", "contact_id", "decided_at"),)
