"""Opt-in and opt-out as the rest of the gateway asks for them (CLI, API, console, keywords).

One place appends to the consent ledger and tells the `on_consent` listeners (webhooks:
contact.opted_in / contact.opted_out) after the commit. Double opt-in: when configured, an opt-in
from a form, the API or staff only records a request and sends "Reply YES to confirm"; the
customer's YES (a keyword, see gateway.inbound) is what grants consent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway import consent, contacts, keywords
from gateway.audience_models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact
from gateway.clock import Clock
from gateway.config import ConsentSection
from gateway.queue import Queue

log = logging.getLogger("gsmgw.consent")
ConsentListener = Callable[[Contact, ConsentEvent], None]


@dataclass(frozen=True)
class Outcome:
    contact: Contact
    event: ConsentEvent
    confirmation_id: int | None = None  # the "Reply YES" message, for double opt-in


class Audience:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, queue: Queue, *,
                 settings: ConsentSection | None = None, default_region: str = "GB") -> None:
        self.sessions = sessions
        self.clock = clock
        self.queue = queue
        self.settings = settings or ConsentSection()
        self.default_region = default_region
        self.on_consent: list[ConsentListener] = []

    def opt_out(self, number: str, *, source: str, scope: str = ConsentScope.MARKETING,
                detail: str | None = None) -> Outcome:
        """Record an opt-out now; any queued marketing to the number is suppressed when its turn comes."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            event = consent.record(session, contact, ConsentKind.OPT_OUT, source=source, at=now, scope=scope,
                                   detail=detail)
        self.emit(contact, event)
        return Outcome(contact, event)

    def opt_in(self, number: str, *, source: str, detail: str | None = None) -> Outcome:
        """Record an opt-in, or with double opt-in a request plus the "Reply YES" message."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        ask = self.settings.double_opt_in and source != ConsentSource.KEYWORD
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            kind = ConsentKind.REQUESTED if ask else ConsentKind.OPT_IN
            event = consent.record(session, contact, kind, source=source, at=now, detail=detail)
        confirmation = None
        if ask:
            text = keywords.reply_text("confirm", contact.language, self.settings.default_language)
            assert text is not None
            confirmation = self.queue.enqueue(e164, text, kind="transactional", source="consent").id
        self.emit(contact, event)
        return Outcome(contact, event, confirmation)

    def emit(self, contact: Contact, event: ConsentEvent) -> None:
        """Tell the listeners about a committed ledger entry; one failing listener stops no other."""
        for listener in self.on_consent:
            try:
                listener(contact, event)
            except Exception:
                log.exception("consent listener failed for %s", contact.number)
