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

from sqlalchemy import Connection, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.core.clock import Clock
from gateway.core.hooks import After, run_after_commit, run_in_transaction
from gateway.core.numbers import normalise
from gateway.outbound.models import EarlyReport, Message, MessageEvent, MessageStatus, Part, PartStatus, Priority
from gateway.store.db import Prepared, engine_of
from gateway.store.group_commit import GroupCommit
from modem import report_match
from modem.encoding import segment_info
from modem.pdu import StatusReport, new_concat_reference

log = logging.getLogger("gsmgw.queue")
MAX_TEXT = 1600  # ten-ish parts: longer texts are a mistake, not a message
MORE_URGENT = "a more urgent message came first"  # what part_submitting says when it stepped aside
NOT_SENDING = "its message is no longer being sent by this modem"  # ... when the message was settled meanwhile
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
EARLY = EarlyReport.__table__
NOT_FINAL = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)
IN_DOUBT = "the gateway stopped before the modem's answer was recorded"


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
    message_id: int = 0


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
    def part_submitting(self, part_id: int, modem: str, *, after: Accepted | None = None,
                        unless_more_urgent_than: int | None = None,
                        hold_if: Callable[[Connection], object | None] | None = None) -> object | None:
        """Committed before the PDU is written: after a crash this part is known to be in doubt.
        Returns None when the part is now `submitting`, or what held it back (it stays pending).

        It is the only commit between two sends. `after`: the part the modem answered just before
        (this modem's previous part), recorded `sent` here whatever becomes of this one, so no part
        the network has waits for a later commit. The part must be `pending` and its message
        `sending` on this modem, else NOT_SENDING holds it (its message was settled meanwhile: a
        failure report, the sweep). `unless_more_urgent_than`: a priority; if a more urgent message
        is due for this modem, the part is held back with MORE_URGENT (a message claimed ahead steps
        aside for it: a one-time code never waits behind a promotion). `hold_if(connection)`: a
        last check run inside this transaction, after its first write, so nothing it reads can
        change before the commit (the consent check: a STOP that lands just before the send is
        seen); what it returns, if not None, holds the part back.
        """
        return self._write(lambda conn: _submitting(
            conn, part_id, modem, self.clock.now(), unless_more_urgent_than, hold_if, after))

    def part_sent(self, part_id: int, reference: int | None, *, last: bool = False) -> None:
        """The network accepted a part; `last`: it was the message's last to go, so the message is
        `sent` in the same commit."""
        self._write(lambda conn: _sent(conn, Accepted(part_id, reference, last), self.clock.now()))

    # ---- per message: each change one guarded statement, the rest of it in the same transaction
    def finish(self, message_id: int, status: str, detail: str | None = None, *,
               part: tuple[int, str] | None = None) -> bool:
        """Move a message that is not final yet to sent/failed/unknown/suppressed/expired/cancelled;
        `part`: (part id, status) of the part in flight whose fate decided it, in the same commit
        (a crash between the two would leave the message to be sent again). False if the message
        was final already (a failure report came first): it stays so."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[bool, Changes]:
            if part is not None:
                _part_outcome(conn, part[0], part[1], detail, now)
            values: dict[str, Any] = {}
            if status == MessageStatus.SENT:
                values["sent_at"] = now
            if status in MessageStatus.FINAL:
                values["finished_at"] = now
            if detail and status != MessageStatus.SENT:
                values["last_error"] = detail
            if not _move(conn, message_id, status, now, NOT_FINAL, values):
                return False, []
            SQL["events"](conn, [_event(message_id, status, now, detail)])
            return True, [(message_id, status)]

        return self._write(unit)

    def retry(self, message_id: int, error: str, *, delay: float, max_attempts: int,
              part_id: int | None = None) -> str:
        """Back to the queue after `delay`, or failed when attempts are used up; `part_id`: the part
        the modem refused before taking it, pending again in the same commit. Returns the status
        (a message no longer `sending` is left as it is)."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[str, Changes]:
            if part_id is not None:
                _part_outcome(conn, part_id, PartStatus.PENDING, error, now)
            row = conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id,
                                                      MESSAGES.c.status == MessageStatus.SENDING)
                               .values(status=MessageStatus.QUEUED, last_error=error, updated_at=now)
                               .returning(MESSAGES.c.attempts)).first()
            if row is None:  # settled meanwhile
                return conn.execute(select(MESSAGES.c.status).where(MESSAGES.c.id == message_id)).scalar_one(), []
            values: dict[str, Any]
            if row.attempts >= max_attempts:
                status, detail = MessageStatus.FAILED, f"gave up after {row.attempts} attempts: {error}"
                values = {"status": status, "finished_at": now}
            else:
                status, detail = MessageStatus.QUEUED, f"retry in {delay:g} s: {error}"
                values = {"not_before": now + timedelta(seconds=delay)}
                if not _partly_sent(conn, message_id):
                    values["sim"] = None  # free to go out on another SIM
            conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(**values))
            SQL["events"](conn, [_event(message_id, status, now, detail)])
            return status, [(message_id, status)]

        status = self._write(unit)
        self._notify()
        return status

    def release(self, message_id: int, reason: str, *, not_before: datetime | None = None,
                part_id: int | None = None) -> None:
        """Give a claimed message back unchanged (shutdown between parts, a more urgent message
        came first, its SIM refused to send); `not_before`: not due again before then (the limits'
        next slot); `part_id`: the part the modem refused before taking it, pending again in the
        same commit."""
        now = self.clock.now()
        values: dict[str, Any] = {"attempts": _one_attempt_less()}
        if not_before is not None:
            values["not_before"] = not_before

        def unit(conn: Connection) -> tuple[None, Changes]:
            if part_id is not None:
                _part_outcome(conn, part_id, PartStatus.PENDING, reason, now)
            return _requeue(conn, message_id, now, reason, values)

        self._write(unit)

    def defer(self, message_id: int, until: datetime, reason: str) -> None:
        """Back to the queue untouched until `until` (quiet hours): not an attempt, not a failure."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[None, Changes]:
            values: dict[str, Any] = {"attempts": _one_attempt_less(), "not_before": until}
            changes = _requeue(conn, message_id, now, f"deferred until {until.isoformat()}: {reason}", values)[1]
            if changes and not _partly_sent(conn, message_id):
                conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(sim=None))
            return None, changes

        self._write(unit)

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
        """Queued messages past their expiry become `expired` (an OTP is never sent late); a
        message stuck in `sending` is queued again by `release_stuck` first, then expires here."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[int, Changes]:
            ids = conn.execute(update(MESSAGES).where(
                MESSAGES.c.status == MessageStatus.QUEUED, MESSAGES.c.expires_at.is_not(None),
                MESSAGES.c.expires_at <= now)
                .values(status=MessageStatus.EXPIRED, finished_at=now, updated_at=now)
                .returning(MESSAGES.c.id)).scalars().all()
            if ids:
                SQL["events"](conn, [_event(i, MessageStatus.EXPIRED, now) for i in ids])
            return len(ids), [(i, MessageStatus.EXPIRED) for i in ids]

        return self._write(unit)

    def next_expiry(self) -> datetime | None:
        with self.sessions() as session:
            return session.scalar(select(func.min(Message.expires_at)).where(
                Message.status == MessageStatus.QUEUED, Message.expires_at.is_not(None)))

    def recover(self, *, resend_unknown: bool = False, modems: Iterable[str] | None = None) -> dict[str, int]:
        """After a crash: parts left `submitting` are in doubt; messages left `sending` go back.

        Only messages of the given modems are touched, so gateways sharing a database do not
        recover each other's work.
        """
        return self._settle_sending(modems, resend_unknown=resend_unknown, detail="recovered after restart")

    def release_stuck(self, modems: Iterable[str], *, older_than: datetime,
                      resend_unknown: bool = False) -> dict[str, int]:
        """The periodic sweep: a message of these modems `sending` with nothing done since
        `older_than` (longer than its send could take: its worker died or lost it) is settled as a
        restart would settle it."""
        return self._settle_sending(modems, resend_unknown=resend_unknown, stale_before=older_than,
                                    detail="stuck in sending: settled by the sweep")

    def settle(self, message_ids: Iterable[int], *, resend_unknown: bool, detail: str) -> dict[str, int]:
        """Settle messages still `sending` by what their parts say (a worker that met an error it
        did not expect, or found nothing left to send): an in-doubt part makes it `unknown`
        (pending again with `resend_unknown`), a failed part `failed`, all parts accepted `sent`,
        otherwise it is queued again."""
        ids = list(message_ids)
        now = self.clock.now()
        return self._write(lambda conn: _settle_all(conn, ids, now, resend_unknown, detail, None))

    def _settle_sending(self, modems: Iterable[str] | None, *, resend_unknown: bool, detail: str,
                        stale_before: datetime | None = None) -> dict[str, int]:
        query = select(MESSAGES.c.id).where(MESSAGES.c.status == MessageStatus.SENDING)
        if modems is not None:
            query = query.where(MESSAGES.c.sim.in_(list(modems)))
        if stale_before is not None:
            query = query.where(MESSAGES.c.updated_at < stale_before)
        with self.sessions() as session:
            ids = list(session.execute(query).scalars())
        if not ids:
            return {"unknown": 0, "requeued": 0}
        now = self.clock.now()
        return self._write(lambda conn: _settle_all(conn, ids, now, resend_unknown, detail, stale_before))

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

        Returns the message id it matched, or None: then the report is kept (its part may not be
        recorded yet) and applied when a part of this modem is recorded with its reference.
        """
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[int | None, Changes]:
            matched, new = _apply_report(conn, modem, report, now)
            if matched is None:
                SQL["early_store"](conn, {"modem": modem, "reference": report.reference,
                                          "recipient": report.recipient, "status": report.status,
                                          "sent_at": report.sent_at, "discharged_at": report.discharged_at,
                                          "received_at": now})
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
    m, p, e = MESSAGES.c, PARTS.c, EARLY.c
    earlier = MESSAGES.alias("earlier")
    last_sim = (select(earlier.c.sim)
                .where(earlier.c.to_number == m.to_number, earlier.c.sim.is_not(None), earlier.c.id < m.id)
                .order_by(earlier.c.id.desc()).limit(1).scalar_subquery())
    due = (m.status == MessageStatus.QUEUED, m.not_before <= bindparam("now"),
           (m.sim_requested.is_(None)) | (m.sim_requested == bindparam("modem")))
    ours = select(m.id).where(m.id == p.message_id, m.status == MessageStatus.SENDING,
                              m.sim == bindparam("modem")).exists()
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
        # only a pending part of a message this modem is sending: parts stop once their message
        # was settled (a failure report, the sweep)
        "submitting": update(PARTS).where(p.id == bindparam("part_id"), p.status == PartStatus.PENDING, ours)
        .values(status=PartStatus.SUBMITTING, modem=bindparam("modem"), submitted_at=bindparam("now"))
        .returning(p.message_id, p.seq),
        # the same, unless a more urgent message is due for this modem (one statement: it runs
        # between two sends)
        "submitting_unless_more_urgent": update(PARTS).where(
            p.id == bindparam("part_id"), p.status == PartStatus.PENDING, ours,
            ~select(m.id).where(*due, m.priority < bindparam("priority")).exists())
        .values(status=PartStatus.SUBMITTING, modem=bindparam("modem"), submitted_at=bindparam("now"))
        .returning(p.message_id, p.seq),
        "unsubmit": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.PENDING, modem=None, submitted_at=None),
        "sent": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.SENT, reference=bindparam("ref"), sent_at=bindparam("now"))
        .returning(p.message_id, p.seq, p.modem),
        "still_ours": select(p.id).where(p.id == bindparam("part_id"), p.status == PartStatus.PENDING, ours),
        # reports that came before the part they are about was recorded (never before it was submitted)
        "early_for": select(e.id, e.recipient, e.status, e.sent_at, e.discharged_at).where(
            e.modem == bindparam("modem"), e.reference == bindparam("ref"), e.part_id.is_(None),
            e.received_at >= select(p.submitted_at).where(p.id == bindparam("part_id")).scalar_subquery())
        .order_by(e.id),
        "early_store": insert(EARLY),
        "early_matched": update(EARLY).where(e.id == bindparam("early_id")).values(part_id=bindparam("matched")),
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
                hold_if: Callable[[Connection], object | None] | None,
                after: Accepted | None) -> tuple[object | None, Changes]:
    """(None if the part is now `submitting`, else what held it; `after` is recorded either way)."""
    changes = _sent(conn, after, now)[1] if after is not None else []
    values = {"part_id": part_id, "modem": modem, "now": now}
    if unless_more_urgent_than is not None and unless_more_urgent_than > Priority.HIGH:
        row = SQL["submitting_unless_more_urgent"](conn, {**values, "priority": unless_more_urgent_than}).first()
        if row is None:
            ours = SQL["still_ours"](conn, {"part_id": part_id, "modem": modem}).first()
            return (MORE_URGENT if ours is not None else NOT_SENDING), changes
    else:
        row = SQL["submitting"](conn, values).first()
        if row is None:
            return NOT_SENDING, changes
    held = hold_if(conn) if hold_if is not None else None  # after a write: the database is ours
    if held is None:
        SQL["events"](conn, [_event(row.message_id, PartStatus.SUBMITTING, now, modem, row.seq)])
    else:
        SQL["unsubmit"](conn, {"part_id": part_id})
    return held, changes


def _sent(conn: Connection, accepted: Accepted, now: datetime) -> tuple[None, Changes]:
    """Mark a part sent; after the message's last part, the message too; then the status reports
    that came for it before this commit."""
    row = SQL["sent"](conn, {"part_id": accepted.part_id, "ref": accepted.reference, "now": now}).one()
    events = [_event(row.message_id, PartStatus.SENT, now, f"reference {accepted.reference}", row.seq)]
    moved = accepted.last and SQL["message_sent"](conn, {"message_id": row.message_id, "now": now}).rowcount
    if moved:
        events.append(_event(row.message_id, MessageStatus.SENT, now))
    SQL["events"](conn, events)
    changes: Changes = [(int(row.message_id), MessageStatus.SENT)] if moved else []
    if accepted.reference is not None and row.modem is not None:
        changes += _early_reports(conn, row.modem, accepted, now)
    return None, changes


def _early_reports(conn: Connection, modem: str, accepted: Accepted, now: datetime) -> Changes:
    """Apply the kept reports with this part's modem and reference that came after it was submitted."""
    changes: Changes = []
    for early in SQL["early_for"](conn, {"modem": modem, "ref": accepted.reference, "part_id": accepted.part_id}).all():
        report = StatusReport(accepted.reference, early.recipient, early.sent_at, early.discharged_at, early.status)
        matched, new = _apply_report(conn, modem, report, now)
        if matched is not None:
            SQL["early_matched"](conn, {"early_id": early.id, "matched": accepted.part_id})
            if new is not None:
                changes.append((matched, new))
    return changes


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


def _move(conn: Connection, message_id: int, status: str, now: datetime, allowed: Sequence[str],
          values: Mapping[str, Any]) -> bool:
    """The compare-and-set every per-message change starts with: the message moves only from one
    of the `allowed` states (a final state stays final: a part's failure report can fail a message
    while its worker is still busy, and what the worker does next must not undo that). Being a
    write, it also makes what the transaction reads after it current until the commit."""
    moved = conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id, MESSAGES.c.status.in_(allowed))
                         .values(status=status, updated_at=now, **values)).rowcount
    if not moved:
        log.info("message %d is no longer %s; left so", message_id, " or ".join(allowed))
    return bool(moved)


def _requeue(conn: Connection, message_id: int, now: datetime, detail: str,
             values: Mapping[str, Any]) -> tuple[None, Changes]:
    """A message its worker is `sending` back to `queued` (nothing else is ever put back)."""
    if not _move(conn, message_id, MessageStatus.QUEUED, now, (MessageStatus.SENDING,), values):
        return None, []
    SQL["events"](conn, [_event(message_id, MessageStatus.QUEUED, now, detail)])
    return None, [(message_id, MessageStatus.QUEUED)]


def _one_attempt_less() -> Any:
    """Giving a claim back does not use up an attempt."""
    return case((MESSAGES.c.attempts > 0, MESSAGES.c.attempts - 1), else_=0)


def _part_outcome(conn: Connection, part_id: int, status: str, error: str | None, now: datetime) -> None:
    """The fate of the part in flight (`submitting`): refused, failed or in doubt."""
    row = conn.execute(update(PARTS).where(PARTS.c.id == part_id, PARTS.c.status == PartStatus.SUBMITTING)
                       .values(status=status, error=error).returning(PARTS.c.message_id, PARTS.c.seq)).first()
    if row is not None:
        SQL["events"](conn, [_event(row.message_id, status, now, error, row.seq)])


def _settle_all(conn: Connection, message_ids: Sequence[int], now: datetime, resend_unknown: bool, detail: str,
                stale_before: datetime | None) -> tuple[dict[str, int], Changes]:
    counts = {"unknown": 0, "requeued": 0}
    changes: Changes = []
    for message_id in message_ids:
        status = _settle(conn, message_id, now, resend_unknown, detail, stale_before)
        if status is None:
            continue
        changes.append((message_id, status))
        if status == MessageStatus.UNKNOWN:
            counts["unknown"] += 1
        elif status == MessageStatus.QUEUED:
            counts["requeued"] += 1
    return counts, changes


def _settle(conn: Connection, message_id: int, now: datetime, resend_unknown: bool, detail: str,
            stale_before: datetime | None) -> str | None:
    """Settle one message still `sending` (and, with `stale_before`, untouched since then) by its
    parts; its new status, or None if it was not to be settled."""
    m, p = MESSAGES.c, PARTS.c
    guard = [m.id == message_id, m.status == MessageStatus.SENDING]
    if stale_before is not None:
        guard += [m.updated_at < stale_before,
                  ~select(p.id).where(p.message_id == message_id, p.submitted_at >= stale_before).exists()]
    if not conn.execute(update(MESSAGES).where(*guard).values(updated_at=now)).rowcount:
        return None  # settled or busy meanwhile; the write also makes what is read below current
    events = []
    statuses = []
    for part in conn.execute(select(p.id, p.seq, p.status).where(p.message_id == message_id)).all():
        status = part.status
        if status == PartStatus.SUBMITTING:
            status = PartStatus.PENDING if resend_unknown else PartStatus.UNKNOWN
            conn.execute(update(PARTS).where(p.id == part.id).values(status=status, error=IN_DOUBT))
            events.append(_event(message_id, status, now, IN_DOUBT, part.seq))
        statuses.append(status)
    new = _by_parts(statuses)
    values: dict[str, Any] = {"status": new}
    if new in MessageStatus.FINAL:
        values["finished_at"] = now
    if new in (MessageStatus.SENT, MessageStatus.DELIVERED):
        values["sent_at"] = func.coalesce(m.sent_at, now)
    conn.execute(update(MESSAGES).where(m.id == message_id).values(**values))
    events.append(_event(message_id, new, now, detail))
    SQL["events"](conn, events)
    return new


def _by_parts(statuses: Sequence[str]) -> str:
    """What a message is when its sending stopped, by its parts' states."""
    if PartStatus.FAILED in statuses:
        return MessageStatus.FAILED
    if PartStatus.UNKNOWN in statuses:
        return MessageStatus.UNKNOWN
    if all(s == PartStatus.DELIVERED for s in statuses):
        return MessageStatus.DELIVERED
    if all(s in (PartStatus.SENT, PartStatus.DELIVERED) for s in statuses):
        return MessageStatus.SENT
    return MessageStatus.QUEUED


def _partly_sent(db: Session | Connection, message_id: int) -> bool:
    conn = db.connection() if isinstance(db, Session) else db
    return bool(SQL["partly_sent"](conn, {"message_id": message_id}).scalar())
