"""The inbound pipeline: stored parts -> whole messages -> contact, conversation, keywords, replies.

`StoringInbound` has already stored every part (`inbound_parts`) before the SIM copy was deleted;
this pipeline listens to it. Parts of a long SMS are joined (`reassembly.Reassembler`); a message
whose parts stop coming is stored with what arrived after `reassembly_timeout_s`. Each message is
filed in the conversation of its sender and SIM; an unknown sender becomes a contact WITHOUT consent.
A keyword (STOP, START, HELP, custom JOIN...) changes the consent ledger or a group in the same
transaction (YES only when it answers our confirmation request; otherwise it is a reply like any), and its reply is queued as a transactional message pinned to the SIM it came in on, so
it goes through the normal queue and limits and comes from the number the customer wrote to.

Every text here is untrusted: it is stored and compared, never interpreted. A part that was stored
but not yet made into a message (a crash in between) is picked up again by `recover()` at start;
one whose processing failed (a locked database while applying a STOP) stays unprocessed, since its
consequences commit with the message or not at all, and is taken again with backoff until it goes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience import contacts
from gateway.audience.models import Contact
from gateway.consent import ledger
from gateway.consent import keyword_store
from gateway.consent import free_text
from gateway.consent import requests
from gateway.consent import keywords
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource
from gateway.consent.optin import Audience
from gateway.core.clock import Clock
from gateway.core.config_sections import InboundSection
from gateway.core.hooks import After, run_after_commit, run_in_transaction
from gateway.core.numbers import normalise
from gateway.inbound import conversations
from gateway.inbound.models import InboundMessage, InboundMessagePart
from gateway.inbound.models import InboundPart
from gateway.inbound.reassembly import Assembled, Piece, Reassembler
from gateway.outbound.models import Message
from gateway.outbound.new_message import RejectedMessage
from gateway.outbound.queue import Queue
from modem.errors import InvalidNumber

log = logging.getLogger("gsmgw.inbound")
REPLY_SOURCE = "keyword"
DEFAULT_REPLY_SOURCE = "autoreply"
STALE_AFTER = timedelta(hours=1)  # a message recovered later than this gets its effects, not a reply
REPLY_EXPIRES_S = 24 * 3600  # pinned to one SIM: if it stays down a day, a late answer only confuses
RETRY_FIRST_S = 1.0  # after a failure, unprocessed parts are taken again this soon...
RETRY_MAX_S = 60.0  # ...then twice as late each time it fails again, up to this
# runs in the transaction that stored the message; may return an action for after the commit
ReceivedHook = Callable[[Connection, InboundMessage], After | None]


class InboundPipeline:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, queue: Queue, audience: Audience, *,
                 settings: InboundSection | None = None, default_region: str = "GB",
                 default_language: str = "en") -> None:
        self.sessions = sessions
        self.clock = clock
        self.queue = queue
        self.audience = audience
        self.settings = settings or InboundSection()
        self.default_region = default_region
        self.default_language = default_language
        self.reassembler = Reassembler(self.settings.reassembly_timeout_s)
        self.matcher = keywords.Matcher()
        self.received_hooks: list[ReceivedHook] = []  # in the transaction that stores a message
        # the reassembler and the retry timing, shared by the modems' event threads and the timer; what
        # a message causes is ordered by the database's write path (one writer transaction at a time)
        self._state = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None  # when to take the unprocessed parts again (after a failure)
        self._retry_delay = RETRY_FIRST_S

    # ---- life ---------------------------------------------------------------------------------
    def start(self) -> None:
        with self.sessions.begin() as session:
            keyword_store.seed_defaults(session, self.clock.now())
        self.reload_keywords()
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._timer, name="inbound-reassembly", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def reload_keywords(self) -> None:
        with self.sessions() as session:
            matcher = keyword_store.load(session)
        with self._state:
            self.matcher = matcher

    def recover(self) -> int:
        """Parts stored but never made into a message (a crash in between), fed in again, oldest
        first, with their deadlines counted from when they arrived."""
        with self.sessions() as session:
            parts = session.scalars(
                select(InboundPart).outerjoin(InboundMessagePart, InboundMessagePart.inbound_part_id == InboundPart.id)
                .where(InboundMessagePart.inbound_part_id.is_(None)).order_by(InboundPart.id)).all()
        for part in parts:
            self._take(part, part.received_at.timestamp())
        if parts:
            log.info("recovered %d inbound part(s) not yet processed", len(parts))
        return len(parts)

    # ---- in -----------------------------------------------------------------------------------
    def __call__(self, part: InboundPart) -> None:
        """The `StoringInbound.received` listener: the part is stored already, so a failure here
        loses nothing: it stays unprocessed and is taken again soon (see `_retry`)."""
        try:
            self._take(part, self.clock.time())
        except Exception:
            log.exception("inbound part %s could not be processed; taken again in %g s", part.id, self._retry_delay)
            self._failed()

    def _failed(self) -> None:
        """Take the unprocessed parts again after the current delay (the timer thread does)."""
        with self._state:
            if self._retry_at is None:
                self._retry_at = self.clock.time() + self._retry_delay
        self._wake.set()

    def _retry(self) -> None:
        """Take every unprocessed part again; on failure, again later (twice as late, up to a minute)."""
        with self._state:
            self._retry_at = None
        try:
            self.recover()
        except Exception:
            with self._state:
                self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
            log.exception("unprocessed inbound parts still fail; taken again in %g s", self._retry_delay)
            self._failed()
        else:
            with self._state:
                self._retry_delay = RETRY_FIRST_S

    def _take(self, part: InboundPart, now: float) -> InboundMessage | None:
        total, seq, ref = part.concat_total, part.concat_seq, part.concat_ref
        if total and total > 1 and seq is not None and ref is not None:
            with self._state:
                assembled = self.reassembler.add((part.modem, part.sender or ""),
                                                 Piece(ref, total, seq, part.id, part.text or ""), now)
            if assembled is None:
                self._wake.set()  # a new deadline, perhaps the nearest
                return None
        else:
            assembled = Assembled((part.modem, part.sender or "", 0, 1), (Piece(0, 1, 1, part.id, part.text or ""),), True)
        return self._store(assembled)

    def flush_expired(self, now: float | None = None) -> int:
        """Store the messages whose missing parts did not come in time (marked incomplete)."""
        with self._state:
            groups = self.reassembler.expired(self.clock.time() if now is None else now)
        for group in groups:
            try:
                self._store(group)
            except Exception:
                log.exception("incomplete inbound message %s could not be stored; taken again", group.key)
                self._failed()
        return len(groups)

    def _timer(self) -> None:
        while not self._stop.is_set():
            with self._state:
                deadlines = [d for d in (self.reassembler.next_deadline(), self._retry_at) if d is not None]
            wait = 60.0 if not deadlines else min(deadlines) - self.clock.time()
            if wait > 0:  # a deadline passed while the last round ran: no waiting for it
                self.clock.wait(self._wake, min(wait, 60.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._state:
                retry_due = self._retry_at is not None and self._retry_at <= self.clock.time()
            if retry_due:
                self._retry()
            self.flush_expired()

    # ---- storing and acting -------------------------------------------------------------------
    def _store(self, assembled: Assembled) -> InboundMessage | None:
        replies: list[tuple[str, str, str, str]] = []  # (number, text, sim, source)
        events: list[tuple[Contact, ConsentEvent]] = []
        with self.sessions.begin() as session:
            ids = list(assembled.part_ids)
            taken = set(session.scalars(select(InboundMessagePart.inbound_part_id)
                                        .where(InboundMessagePart.inbound_part_id.in_(ids))).all())
            now = self.clock.now()  # inside the writer's turn: consequences are in the order they commit
            if taken >= set(ids):
                return None  # made into a message already
            rows = session.scalars(select(InboundPart).where(InboundPart.id.in_(ids))).all()
            first = min(rows, key=lambda r: (r.concat_seq or 0, r.id))
            received_at = max(r.received_at for r in rows)
            error = "; ".join(r.error for r in rows if r.error) or None
            sender = first.sender
            number = _phone(sender, self.default_region)
            contact = None
            if number is not None:
                contact, _ = contacts.find_or_create(session, number, now=now, source="inbound")
                contact.last_inbound_at = received_at
            conversation = None
            if sender:
                conversation = conversations.get_or_create(session, number or sender, assembled.key[0],
                                                           contact.id if contact else None, received_at)
                conversation.unread += 1
                conversation.last_message_at = max(conversation.last_message_at, received_at)
            message = InboundMessage(
                conversation_id=conversation.id if conversation else None,
                contact_id=contact.id if contact else None, modem=assembled.key[0], sender=sender,
                text=assembled.text,
                parts=len(assembled.pieces), parts_expected=assembled.total, complete=assembled.complete,
                sent_at=first.sent_at, received_at=received_at, error=error)
            session.add(message)
            session.flush()
            session.add_all(InboundMessagePart(inbound_part_id=i, inbound_message_id=message.id)
                            for i in ids if i not in taken)
            if contact is not None and number is not None and assembled.complete and not error:
                fresh = now - received_at <= STALE_AFTER
                self._act(session, contact, message, assembled.key[0], now, fresh, replies, events)
            afters = self._consequences(session, message, replies, events)
        log.info("%s: message %d from %s (%d/%d parts)%s", message.modem, message.id, sender, message.parts,
                 message.parts_expected, f", keyword {message.keyword}" if message.keyword else "")
        run_after_commit(afters)
        return message

    def _consequences(self, session: Session, message: InboundMessage, replies: list[tuple[str, str, str, str]],
                      events: list[tuple[Contact, ConsentEvent]]) -> list[After]:
        """What the message causes, in the transaction that stores it (a crash after the commit
        loses none of it, and one before leaves the parts to be taken again): the hooks for its
        consent changes and for the message itself (their webhook events), and its replies."""
        session.flush()
        afters: list[After] = []
        for contact, event in events:
            afters += [a for a in self.audience.recorded(session, contact, event) if a not in afters]
        conn = session.connection()
        run_in_transaction(self.received_hooks, conn, message, afters=afters)
        for number, text, sim, source in replies:
            try:
                _, queued = self.queue.enqueue_within(conn, [{"to": number, "text": text, "kind": "transactional",
                                                              "sim": sim, "expires_in": REPLY_EXPIRES_S}], source=source)
            except RejectedMessage as exc:
                log.warning("reply to %s not queued: %s", number, exc)
            else:
                afters.append(queued)
        return afters

    def _act(self, session: Session, contact: Contact, message: InboundMessage, sim: str, now: datetime,
             fresh: bool, replies: list[tuple[str, str, str, str]], events: list[tuple[Contact, ConsentEvent]]) -> None:
        rule = self.matcher.match(message.text)
        source = ConsentSource.KEYWORD
        if rule is None:  # "STOP texting me": an opt-out word opening a sentence is an opt-out too
            rule = free_text.leading_opt_out(self.matcher, message.text)
            source = ConsentSource.KEYWORD_IN_TEXT
        if rule is not None and rule.action == keywords.CONFIRM and not self._awaited(session, contact, now):
            rule = None  # "yes" to a booking reminder is a reply for the inbox, not a subscription
        if rule is None:
            if free_text.looks_like_opt_out(message.text) and not ledger.state_of(session, contact.id).opted_out:
                requests.file(session, contact.id, message.id, now)  # marketing waits until staff have read it
                message.action = requests.ACTION
            text = self.settings.default_reply
            if text and fresh and not self._replied_recently(session, contact.number, now):
                replies.append((contact.number, text, sim, DEFAULT_REPLY_SOURCE))
            return
        message.keyword, message.action = (rule.label or rule.word)[:64], rule.action
        if rule.language and contact.language is None:
            contact.language = rule.language
            contact.updated_at = now
        detail = f"SMS {message.id} on {sim}: {message.text[:160]}"

        def record_consent(kind: str, scope: str = ConsentScope.MARKETING) -> None:
            event = ledger.record(session, contact, kind, source=source, at=now, scope=scope,
                                   detail=detail, inbound_message_id=message.id)
            events.append((contact, event))

        if rule.action == keywords.OPT_OUT:
            record_consent(ConsentKind.OPT_OUT)
        elif rule.action == keywords.OPT_OUT_ALL:
            record_consent(ConsentKind.OPT_OUT, ConsentScope.ALL)
        elif rule.action in (keywords.OPT_IN, keywords.CONFIRM):
            record_consent(ConsentKind.OPT_IN)
        elif rule.action == keywords.JOIN and rule.group:
            contacts.add_to_group(session, contact, rule.group, source=ConsentSource.KEYWORD, now=now)
            if not ledger.state_of(session, contact.id).marketing_allowed:
                record_consent(ConsentKind.OPT_IN)  # texting JOIN from the handset is the opt-in itself
        language = contact.language or rule.language
        action = keywords.OPT_IN if rule.action == keywords.CONFIRM else rule.action
        text = keywords.reply_text(action, language, self.default_language, override=rule.reply, group=rule.group)
        if text and fresh:
            replies.append((contact.number, text, sim, REPLY_SOURCE))

    def _awaited(self, session: Session, contact: Contact, now: datetime) -> bool:
        """Whether a confirmation request of ours is open for this contact (see ledger.derive)."""
        within = timedelta(days=self.audience.settings.confirm_within_days)
        return ledger.state_of(session, contact.id).awaiting_confirmation(now, within)

    def _replied_recently(self, session: Session, number: str, now: datetime) -> bool:
        since = now - timedelta(hours=self.settings.default_reply_every_h)
        return bool(session.scalar(select(func.count()).select_from(Message).where(
            Message.to_number == number, Message.source == DEFAULT_REPLY_SOURCE, Message.created_at >= since)))


def _phone(sender: str | None, region: str) -> str | None:
    """E.164 for a phone-number sender; None for alphanumeric ones ("VODAFONE"), which can't be
    contacts or answered (phonenumbers would read letters as keypad digits)."""
    if not sender or any(ch.isalpha() for ch in sender):
        return None
    try:
        return normalise(sender, region)
    except InvalidNumber:
        return None
