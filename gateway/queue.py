"""The persistent send queue: every change to a message is one short, durable transaction.

The order of commits is what makes a crash harmless: a part is marked `submitting` (committed) before
its PDU goes to the modem, and `sent` with its reference after the modem answered. After a crash a
part still `submitting` is in doubt: it becomes `unknown`, and is only resent if configured.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.clock import Clock
from gateway.models import Message, MessageEvent, MessageStatus, Part, PartStatus, Priority
from gateway.numbers import normalise
from modem.encoding import segment_info
from modem.pdu import StatusReport, new_concat_reference

log = logging.getLogger("gsmgw.queue")
MAX_TEXT = 1600  # ten-ish parts: longer texts are a mistake, not a message


class RejectedMessage(ValueError):
    """A message that cannot be queued, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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
        self.status_listeners: list[Callable[[int, str], None]] = []  # (message id, new status), after commit

    # ---- in ---------------------------------------------------------------------------------
    def enqueue(self, to: str, text: str, *, priority: str = "normal", kind: str = "transactional",
                sim: str | None = None, expires_in: float | None = None, source: str = "cli") -> Message:
        """Validate and store a message (state queued); it is sent only because it was stored."""
        number = self._number(to)
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
        now = self.clock.now()
        message = Message(
            to_number=number, text=text, kind=kind, priority=Priority.BY_NAME[priority],
            status=MessageStatus.QUEUED, encoding=info.encoding, segments=info.parts,
            concat_ref=new_concat_reference(self.ref16) if info.parts > 1 else None,
            sim_requested=sim, source=source, attempts=0, created_at=now, not_before=now,
            expires_at=now + timedelta(seconds=expires_in) if expires_in else None, updated_at=now,
        )
        message.parts = [Part(seq=i, total=info.parts, status=PartStatus.PENDING) for i in range(1, info.parts + 1)]
        message.events = [MessageEvent(status=MessageStatus.QUEUED, at=now)]
        with self.sessions.begin() as session:
            session.add(message)
        self._changed(message.id, MessageStatus.QUEUED)
        self._notify()
        return message

    def _number(self, to: str) -> str:
        try:
            return normalise(to, self.default_region)
        except ValueError as exc:
            raise RejectedMessage("to", str(exc)) from None

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def _changed(self, message_id: int, status: str) -> None:
        for listener in self.status_listeners:
            try:
                listener(message_id, status)
            except Exception:
                log.exception("status listener failed for message %d", message_id)

    # ---- claiming ---------------------------------------------------------------------------
    def claim(self, modem: str, *, may_take: Callable[[Message], bool] = lambda m: True,
              batch: int = 20) -> Claimed | None:
        """Take the most urgent due message this modem may send; None if there is none."""
        now = self.clock.now()
        with self.sessions() as session:
            candidates = session.scalars(
                select(Message)
                .where(Message.status == MessageStatus.QUEUED, Message.not_before <= now,
                       (Message.sim_requested.is_(None)) | (Message.sim_requested == modem))
                .order_by(Message.priority, Message.id).limit(batch)
            ).all()
            for message in candidates:
                if message.expires_at is not None and message.expires_at <= now:
                    continue  # the expiry sweep records it
                if message.sim is not None and message.sim != modem and _partly_sent(session, message.id):
                    continue  # the rest of a multipart must come from the same number
                if not may_take(message):
                    continue
                attempts = message.attempts + 1
                taken = session.execute(
                    update(Message).where(Message.id == message.id, Message.status == MessageStatus.QUEUED)
                    .values(status=MessageStatus.SENDING, sim=modem, attempts=Message.attempts + 1,
                            updated_at=now)
                ).rowcount
                if not taken:
                    continue  # another worker (or gateway) was quicker
                session.add(MessageEvent(message_id=message.id, status=MessageStatus.SENDING, at=now,
                                         detail=f"on {modem}"))
                parts = session.scalars(select(Part).where(Part.message_id == message.id)).all()
                session.commit()
                self._changed(message.id, MessageStatus.SENDING)
                return Claimed(message.id, message.to_number, message.text, message.kind,
                               message.concat_ref, attempts,
                               tuple(p.seq for p in parts if p.status == PartStatus.PENDING),
                               {p.seq: p.id for p in parts}, message.expires_at, message.priority)
        return None

    def more_urgent_due(self, modem: str, priority: int) -> bool:
        """Is a message of a higher priority than `priority` due for this modem? (A message claimed
        ahead of time steps aside for it: a one-time code never waits behind a promotion.)"""
        if priority <= Priority.HIGH:
            return False
        with self.sessions() as session:
            return session.scalar(
                select(Message.id).where(
                    Message.status == MessageStatus.QUEUED, Message.priority < priority,
                    Message.not_before <= self.clock.now(),
                    (Message.sim_requested.is_(None)) | (Message.sim_requested == modem)).limit(1)) is not None

    # ---- per part ---------------------------------------------------------------------------
    def part_submitting(self, part_id: int, modem: str, *, after: Accepted | None = None) -> None:
        """Committed before the PDU is written: after a crash this part is known to be in doubt.

        `after`: the previous message's last part, accepted by the network but not yet recorded; its
        `sent` goes into this same commit, so the modem waits for one transaction between two sends.
        """
        now = self.clock.now()
        with self.sessions.begin() as session:
            part = session.get_one(Part, part_id)
            part.status, part.modem, part.submitted_at = PartStatus.SUBMITTING, modem, now
            session.add(MessageEvent(message_id=part.message_id, part_seq=part.seq,
                                     status=PartStatus.SUBMITTING, at=now, detail=modem))
            finished = _record_sent(session, after, now) if after is not None else None
        if finished is not None:
            self._changed(finished, MessageStatus.SENT)

    def part_sent(self, part_id: int, reference: int | None, *, last: bool = False) -> None:
        """The network accepted a part; `last`: it was the message's last to go, so the message is
        `sent` in the same commit."""
        with self.sessions.begin() as session:
            finished = _record_sent(session, Accepted(part_id, reference, last), self.clock.now())
        if finished is not None:
            self._changed(finished, MessageStatus.SENT)

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
        with self.sessions.begin() as session:
            _set_status(session, session.get_one(Message, message_id), status, detail, now)
        self._changed(message_id, status)

    def retry(self, message_id: int, error: str, *, delay: float, max_attempts: int) -> str:
        """Back to the queue after `delay`, or failed when attempts are used up. Returns the status."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
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
        self._changed(message_id, status)
        self._notify()
        return status

    def release(self, message_id: int, reason: str) -> None:
        """Give a claimed message back unchanged (shutdown between parts)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
            message.status, message.updated_at = MessageStatus.QUEUED, now
            message.attempts = max(0, message.attempts - 1)
            session.add(MessageEvent(message_id=message_id, status=MessageStatus.QUEUED, at=now, detail=reason))
        self._changed(message_id, MessageStatus.QUEUED)

    def defer(self, message_id: int, until: datetime, reason: str) -> None:
        """Back to the queue untouched until `until` (quiet hours): not an attempt, not a failure."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
            message.status, message.not_before, message.updated_at = MessageStatus.QUEUED, until, now
            message.attempts = max(0, message.attempts - 1)
            if not _partly_sent(session, message_id):
                message.sim = None
            session.add(MessageEvent(message_id=message_id, status=MessageStatus.QUEUED, at=now,
                                     detail=f"deferred until {until.isoformat()}: {reason}"))
        self._changed(message_id, MessageStatus.QUEUED)

    def cancel(self, message_id: int) -> bool:
        """Cancel a message that has not started; False if it is too late."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            done = session.execute(
                update(Message).where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
                .values(status=MessageStatus.CANCELLED, finished_at=now, updated_at=now)).rowcount
            if done:
                session.add(MessageEvent(message_id=message_id, status=MessageStatus.CANCELLED, at=now))
        if done:
            self._changed(message_id, MessageStatus.CANCELLED)
        return bool(done)

    # ---- sweeps -----------------------------------------------------------------------------
    def expire_due(self) -> int:
        """Queued messages past their expiry become `expired` (an OTP is never sent late)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            ids = session.scalars(select(Message.id).where(
                Message.status == MessageStatus.QUEUED, Message.expires_at.is_not(None),
                Message.expires_at <= now)).all()
            for message_id in ids:
                session.execute(update(Message).where(Message.id == message_id)
                                .values(status=MessageStatus.EXPIRED, finished_at=now, updated_at=now))
                session.add(MessageEvent(message_id=message_id, status=MessageStatus.EXPIRED, at=now))
        for message_id in ids:
            self._changed(message_id, MessageStatus.EXPIRED)
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
        changed: list[tuple[int, str]] = []
        with self.sessions.begin() as session:
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
                changed.append((message.id, message.status))
        for message_id, status in changed:
            self._changed(message_id, status)
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
        """Match a status report to the newest part this modem sent with that reference and number.

        Returns the message id it matched, or None.
        """
        now = self.clock.now()
        digits = re.sub(r"\D", "", report.recipient)[-9:]
        new: str | None = None
        with self.sessions.begin() as session:
            parts = session.scalars(
                select(Part).where(Part.modem == modem, Part.reference == report.reference,
                                   Part.status.in_((PartStatus.SENT, PartStatus.DELIVERED, PartStatus.FAILED)))
                .order_by(Part.submitted_at.desc()).limit(5)).all()
            part = next((p for p in parts if p.message.to_number.endswith(digits)), None)
            if part is None:
                return None
            outcome = report.outcome
            part.report_status, part.report_at = report.status, now
            if outcome == "pending":
                return part.message_id
            part.status = PartStatus.DELIVERED if outcome == "delivered" else PartStatus.FAILED
            session.add(MessageEvent(message_id=part.message_id, part_seq=part.seq, status=part.status, at=now,
                                     detail=f"status report 0x{report.status:02X}"))
            message = part.message
            statuses = {p.status for p in message.parts}
            if statuses == {PartStatus.DELIVERED}:
                new = MessageStatus.DELIVERED
            elif PartStatus.FAILED in statuses and message.status in (MessageStatus.SENT, MessageStatus.SENDING):
                new = MessageStatus.FAILED
            if new and message.status != new:
                message.status, message.finished_at, message.updated_at = new, now, now
                session.add(MessageEvent(message_id=message.id, status=new, at=now))
            else:
                new = None
            matched = message.id
        if new:
            self._changed(matched, new)
        return matched

    # ---- reading ----------------------------------------------------------------------------
    def get(self, message_id: int) -> Message | None:
        with self.sessions() as session:
            return session.scalar(select(Message).where(Message.id == message_id).options(
                selectinload(Message.parts), selectinload(Message.events)))

    def depth(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(tuple(row) for row in session.execute(select(Message.status, func.count()).group_by(Message.status)).all())


def _record_sent(session: Session, accepted: Accepted, now: datetime) -> int | None:
    """Mark a part sent; returns the message id when that made the message `sent`."""
    part = session.get_one(Part, accepted.part_id)
    part.status, part.reference, part.sent_at = PartStatus.SENT, accepted.reference, now
    session.add(MessageEvent(message_id=part.message_id, part_seq=part.seq, status=PartStatus.SENT,
                             at=now, detail=f"reference {accepted.reference}"))
    if not accepted.last:
        return None
    _set_status(session, session.get_one(Message, part.message_id), MessageStatus.SENT, None, now)
    return part.message_id


def _set_status(session: Session, message: Message, status: str, detail: str | None, now: datetime) -> None:
    message.status, message.updated_at = status, now
    if status == MessageStatus.SENT:
        message.sent_at = now
    if status in MessageStatus.FINAL:
        message.finished_at = now
    if detail and status != MessageStatus.SENT:
        message.last_error = detail
    session.add(MessageEvent(message_id=message.id, status=status, at=now, detail=detail))


def _partly_sent(session: Session, message_id: int) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Part).where(
        Part.message_id == message_id, Part.status != PartStatus.PENDING)))
