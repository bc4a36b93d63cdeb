"""Opt-in and opt-out as the rest of the gateway asks for them (CLI, API, console, keywords).

One place appends to the consent ledger and runs the `consent_hooks` in the same transaction
(webhooks: the contact.opted_in / contact.opted_out event commits with the entry). An opt-in from a form,
the API or staff only records a request and queues "Reply YES to confirm" in that transaction when
double opt-in is configured, and always after the customer opted out (`ledger.opt_in_rule`); the
customer's YES to that request (a keyword, see gateway.inbound) is what grants consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience import contacts
from gateway.audience.models import Contact
from gateway.consent import ledger
from gateway.consent import keywords
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope
from gateway.consent.rules import Facts, Rules, decide
from gateway.consent.send_check import rules_from
from gateway.core.clock import Clock
from gateway.core.config_sections import ConsentSection
from gateway.core.hooks import After, run_after_commit, run_in_transaction
from gateway.outbound.queue import Queue

CONFIRMATION_SOURCE = "consent"  # what queued a "Reply YES to confirm"
# runs in the transaction that appended the entry; may return an action for after the commit
ConsentHook = Callable[[Connection, Contact, ConsentEvent], After | None]
# what a caller adds to the transaction of an entry it asked for (an audit entry)
Along = Callable[[Session, Contact, ConsentEvent], None]


@dataclass(frozen=True)
class Outcome:
    contact: Contact
    event: ConsentEvent
    confirmation_id: int | None = None  # the "Reply YES" message, when the opt-in asked just now
    reason: str = ""  # why it only asked (double opt-in, or the customer's own opt-out; a request still open)

    @property
    def requested(self) -> bool:
        return self.event.kind == ConsentKind.REQUESTED


class OptInRefused(Exception):
    """An opt-in that can neither grant consent nor ask for it: the request would not reach them."""


class Audience:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, queue: Queue, *,
                 settings: ConsentSection | Callable[[], ConsentSection] | None = None,
                 default_region: str = "GB") -> None:
        self.sessions = sessions
        self.clock = clock
        self.queue = queue
        # the [consent] section: fixed, or the one in force at each use (the daemon's
        # `settings.Effective.consent`, so the console's quiet hours and cap count here too)
        fixed = settings or ConsentSection()
        self._settings_of: Callable[[], ConsentSection] = settings if callable(settings) else (lambda: fixed)
        self.default_region = default_region
        self.consent_hooks: list[ConsentHook] = []

    @property
    def settings(self) -> ConsentSection:
        return self._settings_of()

    @property
    def rules(self) -> Rules:
        return rules_from(self.settings)

    def opt_out(self, number: str, *, source: str, scope: str = ConsentScope.MARKETING,
                detail: str | None = None, along: Along | None = None) -> Outcome:
        """Record an opt-out now; any queued marketing to the number is suppressed when its turn comes.
        `along` runs in the same transaction (the console's audit entry commits with the change)."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            event = ledger.record(session, contact, ConsentKind.OPT_OUT, source=source, at=now, scope=scope,
                                   detail=detail)
            afters = self.recorded(session, contact, event)
            if along is not None:
                along(session, contact, event)
        run_after_commit(afters)
        return Outcome(contact, event)

    def opt_in(self, number: str, *, source: str, detail: str | None = None, along: Along | None = None) -> Outcome:
        """Record an opt-in, or only a request plus the "Reply YES" message where `ledger.opt_in_rule`
        says so (double opt-in; anyone but the customer after the customer's opt-out). While such a
        request is open nothing new is recorded or texted (the Outcome is that request's); where the
        request would be suppressed (STOPALL) nothing is, and OptInRefused says why. `along` runs in the
        transaction of what was recorded (not when nothing was)."""
        e164, _ = contacts.parse_number(number, self.default_region)
        now = self.clock.now()
        confirmation = None
        with self.sessions.begin() as session:
            contact, _ = contacts.find_or_create(session, e164, now=now, source=source)
            state = ledger.state_of(session, contact.id)
            rule = ledger.opt_in_rule(state, source, double_opt_in=self.settings.double_opt_in, now=now,
                                       within=timedelta(days=self.settings.confirm_within_days),
                                       request_suppressed=self._request_suppressed(state, now))
            if rule.action == ledger.OptIn.REFUSE:
                raise OptInRefused(rule.reason)
            if rule.action == ledger.OptIn.ASKED:
                event = ledger.latest_request(session, contact.id)
                assert event is not None
                return Outcome(contact, event, None, rule.reason)
            ask = rule.action == ledger.OptIn.ASK
            kind = ConsentKind.REQUESTED if ask else ConsentKind.OPT_IN
            event = ledger.record(session, contact, kind, source=source, at=now, detail=detail)
            afters = self.recorded(session, contact, event)
            if ask:
                text = keywords.reply_text("confirm", contact.language, self.settings.default_language)
                assert text is not None
                (message,), queued = self.queue.enqueue_within(
                    session.connection(), [{"to": e164, "text": text, "kind": "transactional"}],
                    source=CONFIRMATION_SOURCE)
                confirmation = message.id
                afters.append(queued)
            if along is not None:
                along(session, contact, event)
        run_after_commit(afters)
        return Outcome(contact, event, confirmation, rule.reason)

    def _request_suppressed(self, state: ledger.ConsentState, now: datetime) -> bool:
        """Whether the worker would suppress our "Reply YES" (the send-time rules decide, as for any
        message): after STOPALL it would, so no request may be said to have gone."""
        facts = Facts(kind="transactional", source=CONFIRMATION_SOURCE, consent=state, sent_in_window=0,
                      local_tz=ZoneInfo("UTC"))
        return decide(facts, self.rules, now).action == "suppress"

    def recorded(self, session: Session, contact: Contact, event: ConsentEvent) -> list[After]:
        """Run the consent hooks for an entry just appended, in its transaction; what they leave for
        after the commit is returned (the caller runs it with `hooks.run_after_commit`)."""
        session.flush()  # the hooks read ids
        return run_in_transaction(self.consent_hooks, session.connection(), contact, event)
