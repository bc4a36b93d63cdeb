"""The send-time check the engine runs after claiming a message and before its first part goes.

It reads the consent ledger at that moment, so a STOP that arrived after the message was queued
still stops it. The decision itself is `gateway.consent.rules.decide` (pure); this class only gathers
the facts: the message's kind and source, the contact's consent and timezone, and how many messages
of that kind went to the number in the frequency-cap window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, bindparam, distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience.models import Contact
from gateway.consent import requests
from gateway.consent.ledger import NO_CONSENT, state_of
from gateway.consent.rules import KEYWORD_SOURCE, Facts, Rules, decide, parse_hhmm
from gateway.core.clock import Clock
from gateway.core.config_sections import ConsentSection
from gateway.outbound.claims import Claimed
from gateway.outbound.models import Message, Part
from gateway.outbound.verdict import Verdict
from gateway.store.db import Prepared, engine_of
from gateway.store.kept_reader import KeptReader

log = logging.getLogger("gsmgw.consent")


def rules_from(section: ConsentSection) -> Rules:
    start, end = parse_hhmm(section.quiet_hours_start), parse_hhmm(section.quiet_hours_end)
    return Rules(
        quiet_start=None if start == end else start, quiet_end=None if start == end else end,
        frequency_cap=section.frequency_cap, frequency_days=section.frequency_days,
        transactional_quiet_hours=section.transactional_quiet_hours,
        transactional_frequency_cap=section.transactional_frequency_cap,
        transactional_honour_stop=section.transactional_honour_stop,
        transactional_honour_stopall=section.transactional_honour_stopall,
    )


_CONTACT_OF = Prepared(select(Contact.id, Contact.timezone, Contact.timezone_guessed)
                       .where(Contact.number == bindparam("number")))
GUESSED = "a guess: the main zone of the number's country"
GATEWAYS = "the gateway's: the contact's is unknown"


class ConsentCheck:
    """`Engine(pre_send=ConsentCheck(...))`: claimed message in, Verdict out."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, rules: Rules | Callable[[], Rules], *,
                 default_timezone: str = "UTC") -> None:
        self.sessions = sessions
        self.clock = clock
        # the rules in force at each check: fixed, or read each time (the console's settings)
        self._rules_of: Callable[[], Rules] = rules if callable(rules) else (lambda: rules)
        self.default_tz = _zone(default_timezone) or ZoneInfo("UTC")
        # a reader's connection kept by each worker's thread: on SQLite the check before the prompt
        # never waits for the writer turn the workers' commits take; on PostgreSQL it is its reads alone
        self._reader = KeptReader(engine_of(sessions))

    @property
    def rules(self) -> Rules:
        return self._rules_of()

    def __call__(self, claimed: Claimed) -> Verdict:
        return self._reader.run(lambda conn: self.within(conn, claimed))  # runs before every send

    def close(self) -> None:
        """Close the connections the checks' threads kept (the engine is about to be disposed)."""
        self._reader.close()

    def within(self, conn: Connection, claimed: Claimed) -> Verdict:
        """The same check on the caller's connection: the worker runs it again inside the commit
        that marks the first part `submitting`, so a STOP recorded in between is not missed."""
        verdict = self._verdict(conn, claimed.to_number, claimed.kind, claimed.source, claimed.id)
        if verdict.action != "send":
            log.info("message %d to %s: %s (%s)", claimed.id, claimed.to_number, verdict.action, verdict.reason)
        return verdict

    def before_queueing(self, to_number: str, kind: str, source: str) -> Verdict:
        """What the send-time check would say now about a message not queued yet (the console's
        quick send refuses at once, in words, what would only be suppressed later)."""
        with engine_of(self.sessions).connect() as conn:
            return self._verdict(conn, to_number, kind, source, None)

    def _verdict(self, conn: Connection, to_number: str, kind: str, source: str, message_id: int | None) -> Verdict:
        now = self.clock.now()
        contact = _CONTACT_OF(conn, {"number": to_number}).first()
        consent = state_of(conn, contact.id) if contact is not None else NO_CONSENT
        tz = _zone(contact.timezone) if contact is not None and contact.timezone else None
        basis = (GUESSED if contact.timezone_guessed else "") if tz is not None else GATEWAYS
        rules = self.rules
        sent = self._sent_in_window(conn, rules, to_number, kind, message_id, now)
        held = requests.pending(conn, [contact.id]).get(contact.id) if contact is not None and kind == "marketing" else None
        facts = Facts(kind, source, consent, sent, tz or self.default_tz, basis, held)
        return decide(facts, rules, now)

    def _sent_in_window(self, conn: Connection, rules: Rules, to_number: str, kind: str, message_id: int | None,
                        now: datetime) -> int:
        cap = rules.frequency_cap if kind == "marketing" else rules.transactional_frequency_cap
        if not cap:
            return 0
        since = now - timedelta(days=rules.frequency_days)
        query = (select(func.count(distinct(Message.id))).select_from(Message)
                 .join(Part, Part.message_id == Message.id)
                 .where(Message.to_number == to_number, Message.kind == kind,
                        Message.id != (message_id or 0), Part.submitted_at >= since))
        if kind != "marketing":
            query = query.where(Message.source != KEYWORD_SOURCE)  # answers to texts don't count
        return int(conn.scalar(query) or 0)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r; using the gateway's", name)
        return None
