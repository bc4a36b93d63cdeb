"""Opt-in and opt-out as the rest of the gateway asks for them (CLI, API, console, keywords).

One place appends to the consent ledger and runs the `consent_hooks` in the same transaction
(webhooks: the contact.opted_in / contact.opted_out event commits with the entry). Double opt-in:
when configured, an opt-in from a form, the API or staff only records a request and queues "Reply
YES to confirm" in that transaction; the customer's YES (a keyword, see gateway.inbound) is what
grants consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from gateway import consent, contacts, keywords
from gateway.audience_models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact
from gateway.clock import Clock
from gateway.config import ConsentSection
from gateway.hooks import After, run_after_commit, run_in_transaction
from gateway.queue import Queue

# runs in the transaction that appended the entry; may return an action for after the commit
ConsentHook = Callable[[Connection, Contact, ConsentEvent], After | None]


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
        self.consent_hooks: list[ConsentHook] = []

    def opt_out(self, number: str, *, source: str, scope: str = ConsentScope.MARKETING,
                detail: str | None = None) -> Outcome:
        """Record an opt-out now; any queued marketing to the number is suppressed when its turn comes."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            event = consent.record(session, contact, ConsentKind.OPT_OUT, source=source, at=now, scope=scope,
                                   detail=detail)
            afters = self.recorded(session, contact, event)
        run_after_commit(afters)
        return Outcome(contact, event)

    def opt_in(self, number: str, *, source: str, detail: str | None = None) -> Outcome:
        """Record an opt-in, or with double opt-in a request plus the "Reply YES" message."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        ask = self.settings.double_opt_in and source != ConsentSource.KEYWORD
        confirmation = None
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            kind = ConsentKind.REQUESTED if ask else ConsentKind.OPT_IN
            event = consent.record(session, contact, kind, source=source, at=now, detail=detail)
            afters = self.recorded(session, contact, event)
            if ask:
                text = keywords.reply_text("confirm", contact.language, self.settings.default_language)
                assert text is not None
                (message,), queued = self.queue.enqueue_within(
                    session.connection(), [{"to": e164, "text": text, "kind": "transactional"}], source="consent")
                confirmation = message.id
                afters.append(queued)
        run_after_commit(afters)
        return Outcome(contact, event, confirmation)

    def recorded(self, session: Session, contact: Contact, event: ConsentEvent) -> list[After]:
        """Run the consent hooks for an entry just appended, in its transaction; what they leave for
        after the commit is returned (the caller runs it with `hooks.run_after_commit`)."""
        session.flush()  # the hooks read ids
        return run_in_transaction(self.consent_hooks, session.connection(), contact, event)
