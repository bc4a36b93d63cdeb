"""The persistent send queue: every change to a message is one short, durable transaction.

The order of commits is what makes a crash harmless: a part is marked `submitting` (committed) before
its PDU goes to the modem, and `sent` with its reference after the modem answered. After a crash a
part still `submitting` is in doubt: it becomes `unknown`, and is only resent if configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.clock import Clock
from gateway.db import Prepared, engine_of
from gateway.group_commit import GroupCommit
from gateway.hooks import After, run_after_commit, run_in_transaction
from gateway.models import Message, MessageEvent, MessageStatus, Part, PartStatus, Priority
from gateway.numbers import normalise
from modem import report_match
from modem.encoding import segment_info
from modem.pdu import StatusReport, new_concat_reference

log = logging.getLogger("gsmgw.queue")
MAX_TEXT = 1600  # ten-ish parts: longer texts are a mistake, not a message
MORE_URGENT = "a more urgent message came first"  # what part_submitting says when it stepped aside
T = TypeVar("T")
Changes = list[tuple[int, str]]  # (message id, new status) made by one transaction
# Runs inside the transaction that changed a message's status, so what it writes (a webhook event,
# a contact's flag) commits with the change or not at all; may return an action for after the commit.
StatusHook = Callable[[Connection, int, str], After | None]

# The send path (claim, submitting, sent, status reports) runs as prepared Core statements on these
# tables (db.Prepared): it happens several times per message, and the ORM's unit of work or even
# Connection.execute costs more than the SQL itself.
MESSAGES = Message.__table__
PARTS = Part.__table__
EVENTS = MessageEvent.__table__


class Candidate(Protocol):
    """What routing sees of a due message when a worker looks for one to claim."""

    id: int
    to_number: str
    last_sim: str | None  # the SIM that last sent to this number, for stickiness


class RejectedMessage(ValueError):
    """A message that cannot be queued, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.index: int | None = None  # which item of enqueue_many


@dataclass(frozen=True)
class Claimed:
    """A message a worker took, with what it needs to send it (no live ORM objects across threads)."""

    id: int
    to_number: str
    text: str
    kind: str
    concat_ref: int | None
    attempts: int
    pending_seqs: tuple[int, ...]
    part_ids: dict[int, int]  # seq -> part row id
    expires_at: datetime | None = None
    priority: int = Priority.NORMAL
    source: str = ""  # who queued it (the send-time check treats answers to texts apart)


@dataclass(frozen=True)
class Accepted:
    """A part the network accepted: its row, the modem's reference, and whether it was the
    message's last part to go (then the message is `sent` in the same commit)."""

    part_id: int
    reference: int | None
    last: bool


class Queue:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, default_region: str = "GB",
                 ref16: bool = False) -> None:
        self.sessions = sessions
        self.clock = clock
        self.default_region = default_region
        self.ref16 = ref16
        self.listeners: list[Callable[[], None]] = []  # told when something becomes due
        self.status_hooks: list[StatusHook] = []  # in the transaction of every status change
        self.status_listeners: list[Callable[[int, str], None]] = []  # (message id, new status), after commit

        self.group = GroupCommit(engine_of(sessions))  # the send path's writes: several workers share a commit

    # ---- in ---------------------------------------------------------------------------------
    def enqueue(self, to: str, text: str, *, priority: str = "normal", kind: str = "transactional",
                sim: str | None = None, expires_in: float | None = None, source: str = "cli") -> Message:
        """Validate and store a message (state queued); it is sent only because it was stored."""
        return self.enqueue_many([{"to": to, "text": text, "priority": priority, "kind": kind, "sim": sim,
                                   "expires_in": expires_in}], source=source)[0]

    def enqueue_many(self, items: Sequence[Mapping[str, Any]], *, source: str,
                     along: Callable[[Connection, list[Message]], None] | None = None) -> list[Message]:
        """Store several messages at once, all or none, with consecutive ids. Each item: `to`, `text`
        and optionally `priority`, `kind`, `sim`, `expires_in` (as enqueue's arguments). A bad item
        raises RejectedMessage with its `index` before anything is stored. `along(connection,
        messages)` stores what belongs with them (their callback URLs) in the same transaction."""
        now = self.clock.now()
        messages = self._checked(items, source, now)

        def unit(conn: Connection) -> tuple[None, Changes]:
            stored = _insert_messages(conn, messages, now)
            if along is not None:
                along(conn, messages)
            return stored

        self._write(unit)
        self._notify()
        return messages

    def enqueue_within(self, conn: Connection, items: Sequence[Mapping[str, Any]], *,
                       source: str) -> tuple[list[Message], After]:
        """The same on the caller's transaction (the reply an SMS asks for commits with that SMS),
        status hooks included; the caller runs the returned function after its commit."""
        now = self.clock.now()
        messages = self._checked(items, source, now)
        _, changes = _insert_messages(conn, messages, now)
        afters = self._hooks(conn, changes)

        def committed() -> None:
            self._committed(changes, afters)
            self._notify()

        return messages, committed

    def _checked(self, items: Sequence[Mapping[str, Any]], source: str, now: datetime) -> list[Message]:
        """The messages for `items`, or RejectedMessage with the `index` of the first bad one."""
        messages = []
        for index, item in enumerate(items):
            try:
                messages.append(self._new_message(item, source, now))
            except RejectedMessage as exc:
                exc.index = index
                raise
        return messages

    def _new_message(self, item: Mapping[str, Any], source: str, now: datetime) -> Message:
        """A checked, not yet stored message with its parts (the object enqueue returns)."""
        number = self._number(item["to"])
        text, priority = item["text"], item.get("priority") or "normal"
        kind, expires_in = item.get("kind") or "transactional", item.get("expires_in")
        if not isinstance(text, str) or not text:
            raise RejectedMessage("text", "must not be empty")
        if len(text) > MAX_TEXT:
            raise RejectedMessage("text", f"is {len(text)} characters; at most {MAX_TEXT}")
        if priority not in Priority.BY_NAME:
            raise RejectedMessage("priority", f"must be one of {', '.join(Priority.BY_NAME)}")
        if kind not in ("transactional", "marketing"):
            raise RejectedMessage("kind", "must be transactional or marketing")
        if expires_in is not None and expires_in <= 0:
            raise RejectedMessage("expires_in", "must be a positive number of seconds")
        info = segment_info(text, ref16=self.ref16)
        message = Message(
            to_number=number, text=text, kind=kind, priority=Priority.BY_NAME[priority],
            status=MessageStatus.QUEUED, encoding=info.encoding, segments=info.parts,
            concat_ref=new_concat_reference(self.ref16) if info.parts > 1 else None,
            sim_requested=item.get("sim"), source=source, attempts=0, created_at=now, not_before=now,
            expires_at=now + timedelta(seconds=expires_in) if expires_in else None, updated_at=now,
        )
        message.parts = [Part(seq=i, total=info.parts, status=PartStatus.PENDING) for i in range(1, info.parts + 1)]
        return message

    def _number(self, to: str) -> str:
        try:
            return normalise(to, self.default_region)
        except ValueError as exc:
            raise RejectedMessage("to", str(exc)) from None

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    # ---- status changes: hooks in the transaction, listeners after the commit ----------------
    def _write(self, unit: Callable[[Connection], tuple[T, Changes]]) -> T:
        """Run a send-path unit of work (returning its value and the status changes it made) through
        the group commit, with the status hooks in its transaction."""
        def run(conn: Connection) -> tuple[T, Changes, list[After]]:
            value, changes = unit(conn)
            return value, changes, self._hooks(conn, changes)

        value, changes, afters = self.group.run(run)
        self._committed(changes, afters)
        return value

    @contextmanager
    def _session(self) -> Iterator[tuple[Session, Changes]]:
        """An ORM transaction for the rarer changes; the caller appends its status changes to the list."""
        changes: Changes = []
        with self.sessions.begin() as session:
            yield session, changes
            session.flush()
            afters = self._hooks(session.connection(), changes)
        self._committed(changes, afters)

    def _hooks(self, conn: Connection, changes: Changes) -> list[After]:
        afters: list[After] = []
        for message_id, status in changes:
            run_in_transaction(self.status_hooks, conn, message_id, status, afters=afters)
        return afters

    def _committed(self, changes: Changes, afters: list[After]) -> None:
        run_after_commit(afters)
        for message_id, status in changes:
            for listener in self.status_listeners:
                try:
                    listener(message_id, status)
                except Exception:
                    log.exception("status listener failed for message %d", message_id)

    # ---- claiming ---------------------------------------------------------------------------
    def claim(self, modem: str, *, may_take: Callable[[Candidate], bool] = lambda m: True) -> Claimed | None:
        """Take the most urgent due message this modem may send; None if there is none."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[Claimed | None, Changes]:
            claimed = _claim(conn, modem, may_take, now)
            return claimed, [(claimed.id, MessageStatus.SENDING)] if claimed is not None else []

        return self._write(unit)

    # ---- per part ---------------------------------------------------------------------------
    def part_submitting(self, part_id: int, modem: str, *, unless_more_urgent_than: int | None = None,
                        hold_if: Callable[[Connection], object | None] | None = None) -> object | None:
        """Committed before the PDU is written: after a crash this part is known to be in doubt.
        Returns None when the part is now `submitting`, or what held it back (it stays pending).

        It is the only commit between two sends, so it carries nothing else.
        `unless_more_urgent_than`: a priority; if a more urgent message is due for this modem, the
        part is held back with MORE_URGENT (a message claimed ahead steps aside for it: a one-time
        code never waits behind a promotion). `hold_if(connection)`: a last check run inside this
        transaction, after its first write, so nothing it reads can change before the commit (the
        consent check: a STOP that lands just before the send is seen); what it returns, if not
        None, holds the part back.
        """
        return self._write(lambda conn: _submitting(
            conn, part_id, modem, self.clock.now(), unless_more_urgent_than, hold_if))

    def while_sending(self, modem: str, *, accepted: Accepted | None,
                      then_claim: Callable[[Candidate], bool] | None) -> Claimed | None:
        """One commit while the modem works on a part: the previous part's `sent` (accepted by the
        network, not yet recorded) and, with a routing predicate, the claim of this modem's next
        message (so it is ready the moment the modem is). Returns what was claimed."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[Claimed | None, Changes]:
            changes = _sent(conn, accepted, now)[1] if accepted is not None else []
            claimed = _claim(conn, modem, then_claim, now) if then_claim is not None else None
            if claimed is not None:
                changes.append((claimed.id, MessageStatus.SENDING))
            return claimed, changes

        return self._write(unit)

    def part_sent(self, part_id: int, reference: int | None, *, last: bool = False) -> None:
        """The network accepted a part; `last`: it was the message's last to go, so the message is
        `sent` in the same commit."""
        self._write(lambda conn: _sent(conn, Accepted(part_id, reference, last), self.clock.now()))

    def part_not_sent(self, part_id: int, error: str) -> None:
        """The modem refused before taking the PDU: the part can go again (its send time still
        counts against the limits, as the carrier may have counted it)."""
        self._part_status(part_id, PartStatus.PENDING, error)

    def part_failed(self, part_id: int, error: str) -> None:
        self._part_status(part_id, PartStatus.FAILED, error)

    def part_unknown(self, part_id: int, error: str) -> None:
        self._part_status(part_id, PartStatus.UNKNOWN, error)

    def _part_status(self, part_id: int, status: str, error: str) -> None:
        now = self.clock.now()
        with self.sessions.begin() as session:
            part = session.get_one(Part, part_id)
            part.status, part.error = status, error
            session.add(MessageEvent(message_id=part.message_id, part_seq=part.seq, status=status, at=now,
                                     detail=error))

    # ---- per message ------------------------------------------------------------------------
    def finish(self, message_id: int, status: str, detail: str | None = None) -> None:
        """Move a message to sent/failed/unknown/suppressed/expired/cancelled."""
        now = self.clock.now()
        with self._session() as (session, changes):
            message = session.get_one(Message, message_id)
            if _settled(message):
                return
            _set_status(session, message, status, detail, now)
            changes.append((message_id, status))

    def retry(self, message_id: int, error: str, *, delay: float, max_attempts: int) -> str:
        """Back to the queue after `delay`, or failed when attempts are used up. Returns the status."""
        now = self.clock.now()
        with self._session() as (session, changes):
            message = session.get_one(Message, message_id)
            if _settled(message):
                return message.status
            message.last_error, message.updated_at = error, now
            if message.attempts >= max_attempts:
                message.status, message.finished_at = MessageStatus.FAILED, now
                detail = f"gave up after {message.attempts} attempts: {error}"
            else:
                message.status = MessageStatus.QUEUED
                message.not_before = now + timedelta(seconds=delay)
                if not _partly_sent(session, message_id):
                    message.sim = None  # free to go out on another SIM
                detail = f"retry in {delay:g} s: {error}"
            session.add(MessageEvent(message_id=message_id, status=message.status, at=now, detail=detail))
            status = message.status
            changes.append((message_id, status))
        self._notify()
        return status

    def release(self, message_id: int, reason: str) -> None:
        """Give a claimed message back unchanged (shutdown between parts)."""
        now = self.clock.now()
        with self._session() as (session, changes):
            message = session.get_one(Message, message_id)
            if _settled(message):
                return
            message.status, message.updated_at = MessageStatus.QUEUED, now
            message.attempts = max(0, message.attempts - 1)
            session.add(MessageEvent(message_id=message_id, status=MessageStatus.QUEUED, at=now, detail=reason))
            changes.append((message_id, MessageStatus.QUEUED))

    def defer(self, message_id: int, until: datetime, reason: str) -> None:
        """Back to the queue untouched until `until` (quiet hours): not an attempt, not a failure."""
        now = self.clock.now()
        with self._session() as (session, changes):
            message = session.get_one(Message, message_id)
            if _settled(message):
                return
            message.status, message.not_before, message.updated_at = MessageStatus.QUEUED, until, now
            message.attempts = max(0, message.attempts - 1)
            if not _partly_sent(session, message_id):
                message.sim = None
            session.add(MessageEvent(message_id=message_id, status=MessageStatus.QUEUED, at=now,
                                     detail=f"deferred until {until.isoformat()}: {reason}"))
            changes.append((message_id, MessageStatus.QUEUED))

    def cancel(self, message_id: int) -> bool:
        """Cancel a message that has not started; False if it is too late."""
        now = self.clock.now()
        with self._session() as (session, changes):
            done = session.execute(
                update(Message).where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
                .values(status=MessageStatus.CANCELLED, finished_at=now, updated_at=now)).rowcount
            if done:
                session.add(MessageEvent(message_id=message_id, status=MessageStatus.CANCELLED, at=now))
                changes.append((message_id, MessageStatus.CANCELLED))
        return bool(done)

    # ---- sweeps -----------------------------------------------------------------------------
    def expire_due(self) -> int:
        """Queued messages past their expiry become `expired` (an OTP is never sent late)."""
        now = self.clock.now()
        with self._session() as (session, changes):
            ids = session.scalars(select(Message.id).where(
                Message.status == MessageStatus.QUEUED, Message.expires_at.is_not(None),
                Message.expires_at <= now)).all()
            for message_id in ids:
                session.execute(update(Message).where(Message.id == message_id)
                                .values(status=MessageStatus.EXPIRED, finished_at=now, updated_at=now))
                session.add(MessageEvent(message_id=message_id, status=MessageStatus.EXPIRED, at=now))
                changes.append((message_id, MessageStatus.EXPIRED))
        return len(ids)

    def next_expiry(self) -> datetime | None:
        with self.sessions() as session:
            return session.scalar(select(func.min(Message.expires_at)).where(
                Message.status == MessageStatus.QUEUED, Message.expires_at.is_not(None)))

    def recover(self, *, resend_unknown: bool = False, modems: Iterable[str] | None = None) -> dict[str, int]:
        """After a crash: parts left `submitting` are in doubt; messages left `sending` go back.

        Only messages of the given modems are touched, so gateways sharing a database do not
        recover each other's work.
        """
        now = self.clock.now()
        counts = {"unknown": 0, "requeued": 0}
        with self._session() as (session, changes):
            query = select(Message).where(Message.status == MessageStatus.SENDING).options(selectinload(Message.parts))
            if modems is not None:
                query = query.where(Message.sim.in_(list(modems)))
            for message in session.scalars(query).all():
                in_doubt = [p for p in message.parts if p.status == PartStatus.SUBMITTING]
                for part in in_doubt:
                    part.status = PartStatus.PENDING if resend_unknown else PartStatus.UNKNOWN
                    part.error = "the gateway stopped before the modem's answer was recorded"
                    session.add(MessageEvent(message_id=message.id, part_seq=part.seq, status=part.status,
                                             at=now, detail=part.error))
                if in_doubt and not resend_unknown:
                    message.status, message.finished_at = MessageStatus.UNKNOWN, now
                    counts["unknown"] += 1
                elif all(p.status == PartStatus.SENT for p in message.parts):
                    message.status, message.sent_at = MessageStatus.SENT, message.sent_at or now
                else:
                    message.status = MessageStatus.QUEUED
                    counts["requeued"] += 1
                message.updated_at = now
                session.add(MessageEvent(message_id=message.id, status=message.status, at=now,
                                         detail="recovered after restart"))
                changes.append((message.id, message.status))
        return counts

    # ---- limits and reports -----------------------------------------------------------------
    def submission_times(self, modem: str, since: datetime) -> list[float]:
        """When this modem handed parts to the network (the rolling limit windows' input)."""
        with self.sessions() as session:
            rows = session.scalars(select(Part.submitted_at).where(
                Part.modem == modem, Part.submitted_at.is_not(None), Part.submitted_at > since)
                .order_by(Part.submitted_at)).all()
        return [row.timestamp() for row in rows]

    def apply_report(self, modem: str, report: StatusReport) -> int | None:
        """Match a status report to the part it answers (same modem, reference and number, sent
        when the report's times say: `modem.report_match`).

        Returns the message id it matched, or None.
        """
        def unit(conn: Connection) -> tuple[int | None, Changes]:
            matched, new = _apply_report(conn, modem, report, self.clock.now())
            return matched, [(matched, new)] if matched is not None and new is not None else []

        return self._write(unit)

    # ---- reading ----------------------------------------------------------------------------
    def get(self, message_id: int) -> Message | None:
        with self.sessions() as session:
            return session.scalar(select(Message).where(Message.id == message_id).options(
                selectinload(Message.parts), selectinload(Message.events)))

    def depth(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(tuple(row) for row in session.execute(select(Message.status, func.count()).group_by(Message.status)).all())


def _statements() -> dict[str, Any]:
    """The send path's statements, built once: building a statement costs more than running it."""
    m, p = MESSAGES.c, PARTS.c
    earlier = MESSAGES.alias("earlier")
    last_sim = (select(earlier.c.sim)
                .where(earlier.c.to_number == m.to_number, earlier.c.sim.is_not(None), earlier.c.id < m.id)
                .order_by(earlier.c.id.desc()).limit(1).scalar_subquery())
    due = (m.status == MessageStatus.QUEUED, m.not_before <= bindparam("now"),
           (m.sim_requested.is_(None)) | (m.sim_requested == bindparam("modem")))
    return {
        "candidates": select(m.id, m.to_number, m.text, m.kind, m.concat_ref, m.attempts, m.sim, m.expires_at,
                             m.priority, m.source, last_sim.label("last_sim"))
        .where(*due).order_by(m.priority, m.id).limit(bindparam("limit")),
        "take": update(MESSAGES).where(m.id == bindparam("message_id"), m.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SENDING, sim=bindparam("modem"), attempts=m.attempts + 1,
                updated_at=bindparam("now")),
        "parts_of": select(p.id, p.seq, p.status).where(p.message_id == bindparam("message_id")),
        "partly_sent": select(func.count()).select_from(PARTS)
        .where(p.message_id == bindparam("message_id"), p.status != PartStatus.PENDING),
        "submitting": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.SUBMITTING, modem=bindparam("modem"), submitted_at=bindparam("now"))
        .returning(p.message_id, p.seq),
        # the same, unless a more urgent message is due for this modem (one statement: it runs
        # between two sends)
        "submitting_unless_more_urgent": update(PARTS).where(
            p.id == bindparam("part_id"), ~select(m.id).where(*due, m.priority < bindparam("priority")).exists())
        .values(status=PartStatus.SUBMITTING, modem=bindparam("modem"), submitted_at=bindparam("now"))
        .returning(p.message_id, p.seq),
        "unsubmit": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.PENDING, modem=None, submitted_at=None),
        "sent": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.SENT, reference=bindparam("ref"), sent_at=bindparam("now"))
        .returning(p.message_id, p.seq),
        # only from `sending`: a part's failure report may have failed the message already, and a
        # final state stays final
        "message_sent": update(MESSAGES).where(m.id == bindparam("message_id"), m.status == MessageStatus.SENDING)
        .values(status=MessageStatus.SENT, sent_at=bindparam("now"), updated_at=bindparam("now")),
        # the parts a report could answer, narrowed by its times (report_match decides among them)
        "reported": select(p.id, p.message_id, p.seq, p.submitted_at, p.sent_at, m.to_number)
        .join(MESSAGES, m.id == p.message_id)
        .where(p.modem == bindparam("modem"), p.reference == bindparam("ref"),
               p.submitted_at >= bindparam("earliest"), p.submitted_at <= bindparam("latest"),
               # spelled out: an IN list is rendered again on every execution
               or_(p.status == PartStatus.SENT, p.status == PartStatus.DELIVERED, p.status == PartStatus.FAILED))
        .order_by(p.submitted_at.desc()).limit(20),
        "report": update(PARTS).where(p.id == bindparam("part_id"))
        .values(report_status=bindparam("report_status"), report_at=bindparam("now")),
        "report_final": update(PARTS).where(p.id == bindparam("part_id"))
        .values(report_status=bindparam("report_status"), report_at=bindparam("now"),
                status=bindparam("part_status")),
        # a report moves the message only as far as all its parts allow, in one statement each
        "delivered_if_all": update(MESSAGES).where(
            m.id == bindparam("message_id"), m.status != MessageStatus.DELIVERED,
            ~select(p.id).where(p.message_id == bindparam("message_id"), p.status != PartStatus.DELIVERED).exists())
        .values(status=MessageStatus.DELIVERED, finished_at=bindparam("now"), updated_at=bindparam("now")),
        "failed_if_any": update(MESSAGES).where(
            m.id == bindparam("message_id"), or_(m.status == MessageStatus.SENT, m.status == MessageStatus.SENDING),
            select(p.id).where(p.message_id == bindparam("message_id"), p.status == PartStatus.FAILED).exists())
        .values(status=MessageStatus.FAILED, finished_at=bindparam("now"), updated_at=bindparam("now")),
        "events": insert(EVENTS),
        "new_message": insert(MESSAGES).returning(m.id),
        "new_parts": insert(PARTS),
    }


CLAIM_BATCH = 20
SQL = {name: Prepared(statement) for name, statement in _statements().items()}


_MESSAGE_COLUMNS = ("to_number", "text", "kind", "priority", "status", "encoding", "segments", "concat_ref",
                    "sim_requested", "source", "attempts", "created_at", "not_before", "expires_at", "updated_at")


def _insert_messages(conn: Connection, messages: list[Message], now: datetime) -> tuple[None, Changes]:
    """Store new messages with their parts and `queued` events; sets each message's id."""
    for message in messages:
        message.id = SQL["new_message"](conn, {c: getattr(message, c) for c in _MESSAGE_COLUMNS}).scalar_one()
    SQL["new_parts"](conn, [{"message_id": m.id, "seq": p.seq, "total": p.total, "status": p.status}
                            for m in messages for p in m.parts])
    SQL["events"](conn, [_event(m.id, MessageStatus.QUEUED, now) for m in messages])
    return None, [(m.id, MessageStatus.QUEUED) for m in messages]


def _claim(conn: Connection, modem: str, may_take: Callable[[Candidate], bool], now: datetime) -> Claimed | None:
    """The most urgent due message this modem may take, marked `sending`; None if there is none.

    The head of the queue is nearly always taken, so it is read first; only when it is not (sticky
    to another SIM, expired) are the next ones read."""
    head = SQL["candidates"](conn, {"now": now, "modem": modem, "limit": 1}).all()
    claimed = _take_first(conn, head, modem, may_take, now)
    if claimed is None and head:
        rest = SQL["candidates"](conn, {"now": now, "modem": modem, "limit": CLAIM_BATCH}).all()[1:]
        claimed = _take_first(conn, rest, modem, may_take, now)
    return claimed


def _take_first(conn: Connection, candidates: Sequence[Any], modem: str, may_take: Callable[[Candidate], bool],
                now: datetime) -> Claimed | None:
    for message in candidates:
        if message.expires_at is not None and message.expires_at <= now:
            continue  # the expiry sweep records it
        if message.sim is not None and message.sim != modem and _partly_sent(conn, message.id):
            continue  # the rest of a multipart must come from the same number
        if not may_take(message):
            continue
        if not SQL["take"](conn, {"message_id": message.id, "modem": modem, "now": now}).rowcount:
            continue  # another gateway sharing the database was quicker
        SQL["events"](conn, [_event(message.id, MessageStatus.SENDING, now, f"on {modem}")])
        parts = SQL["parts_of"](conn, {"message_id": message.id}).all()
        return Claimed(message.id, message.to_number, message.text, message.kind, message.concat_ref,
                       message.attempts + 1, tuple(sorted(p.seq for p in parts if p.status == PartStatus.PENDING)),
                       {p.seq: p.id for p in parts}, message.expires_at, message.priority, message.source or "")
    return None


def _submitting(conn: Connection, part_id: int, modem: str, now: datetime, unless_more_urgent_than: int | None,
                hold_if: Callable[[Connection], object | None] | None) -> tuple[object | None, Changes]:
    """(None if the part is now `submitting`, else what held it; no message changes status here)."""
    values = {"part_id": part_id, "modem": modem, "now": now}
    if unless_more_urgent_than is not None and unless_more_urgent_than > Priority.HIGH:
        row = SQL["submitting_unless_more_urgent"](conn, {**values, "priority": unless_more_urgent_than}).first()
        if row is None:
            return MORE_URGENT, []
    else:
        row = SQL["submitting"](conn, values).one()
    held = hold_if(conn) if hold_if is not None else None  # after a write: the database is ours
    if held is None:
        SQL["events"](conn, [_event(row.message_id, PartStatus.SUBMITTING, now, modem, row.seq)])
    else:
        SQL["unsubmit"](conn, {"part_id": part_id})
    return held, []


def _sent(conn: Connection, accepted: Accepted, now: datetime) -> tuple[None, Changes]:
    """Mark a part sent; after the message's last part, the message too."""
    row = SQL["sent"](conn, {"part_id": accepted.part_id, "ref": accepted.reference, "now": now}).one()
    events = [_event(row.message_id, PartStatus.SENT, now, f"reference {accepted.reference}", row.seq)]
    moved = accepted.last and SQL["message_sent"](conn, {"message_id": row.message_id, "now": now}).rowcount
    if moved:
        events.append(_event(row.message_id, MessageStatus.SENT, now))
    SQL["events"](conn, events)
    return None, [(int(row.message_id), MessageStatus.SENT)] if moved else []


def _apply_report(conn: Connection, modem: str, report: StatusReport, now: datetime) -> tuple[int | None, str | None]:
    """Match a report to the part this modem sent with that reference and number when the report's
    times say (report_match): (the message it matched, the message's new status if the report
    changed it)."""
    earliest, latest = report_match.submitted_between(report)
    rows = SQL["reported"](conn, {"modem": modem, "ref": report.reference, "earliest": earliest,
                                  "latest": latest}).all()
    best = report_match.best_match(report, (report_match.SentPart(row, row.to_number, report.reference,
                                                                  row.submitted_at, row.sent_at) for row in rows))
    if best is None:
        return None, None
    part = best.key
    values: dict[str, Any] = {"part_id": part.id, "report_status": report.status, "now": now}
    if report.outcome == "pending":
        SQL["report"](conn, values)
        return part.message_id, None
    part_status = PartStatus.DELIVERED if report.outcome == "delivered" else PartStatus.FAILED
    SQL["report_final"](conn, {**values, "part_status": part_status})
    events = [_event(part.message_id, part_status, now, f"status report 0x{report.status:02X}", part.seq)]
    moved = {"message_id": part.message_id, "now": now}
    new: str | None = None
    if part_status == PartStatus.DELIVERED and SQL["delivered_if_all"](conn, moved).rowcount:
        new = MessageStatus.DELIVERED
    elif SQL["failed_if_any"](conn, moved).rowcount:  # also a part that failed earlier
        new = MessageStatus.FAILED
    if new is not None:
        events.append(_event(part.message_id, new, now))
    SQL["events"](conn, events)
    return part.message_id, new


def _event(message_id: int, status: str, at: datetime, detail: str | None = None,
           part_seq: int | None = None) -> dict[str, Any]:
    """A message_events row (every key present, so a list of them is one executemany)."""
    return {"message_id": message_id, "part_seq": part_seq, "status": status, "at": at, "detail": detail}


def _settled(message: Message) -> bool:
    """A message in a final state stays there: a part's failure report can fail a message while its
    worker is still busy with the next part, and what the worker does next must not undo that."""
    if message.status in MessageStatus.FINAL:
        log.info("message %d is %s already; left so", message.id, message.status)
        return True
    return False


def _set_status(session: Session, message: Message, status: str, detail: str | None, now: datetime) -> None:
    message.status, message.updated_at = status, now
    if status == MessageStatus.SENT:
        message.sent_at = now
    if status in MessageStatus.FINAL:
        message.finished_at = now
    if detail and status != MessageStatus.SENT:
        message.last_error = detail
    session.add(MessageEvent(message_id=message.id, status=status, at=now, detail=detail))


def _partly_sent(db: Session | Connection, message_id: int) -> bool:
    conn = db.connection() if isinstance(db, Session) else db
    return bool(SQL["partly_sent"](conn, {"message_id": message_id}).scalar())
