"""The persistent send queue: every change to a message is one short, durable transaction.

The order of commits is what makes a crash harmless: a part is marked `submitting` (committed) before
its PDU goes to the modem, and `sent` with its reference after the modem answered. After a crash a
part still `submitting` is in doubt: it becomes `unknown`, and is only resent if configured.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.core.clock import Clock
from gateway.core.hooks import After, run_after_commit, run_in_transaction
from gateway.outbound import change_facts, report_wait, send_transitions, transitions
from gateway.outbound.claims import Accepted, Candidate, Claimed
from gateway.outbound.early_reports import KeptEarly
from gateway.outbound.models import Message, MessageStatus, PartStatus
from gateway.outbound.new_message import Item, NewMessage, checked
from gateway.outbound.transitions import MESSAGES, NOT_FINAL, SQL, Changes
from gateway.store import db
from gateway.store.db import engine_of
from gateway.outbound.queue_sweeps import QueueSweeps, StatusHook, _tell
from gateway.store.group_commit import GroupCommit
from modem.pdu import StatusReport

log = logging.getLogger("gsmgw.queue")
T = TypeVar("T")


class Queue(QueueSweeps):
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, default_region: str = "GB",
                 ref16: bool = False, report_wait_hours: float = report_wait.DEFAULT_WAIT_HOURS) -> None:
        self.sessions = sessions
        self.clock = clock
        self.default_region = default_region
        self.ref16 = ref16
        # the validity period the workers ask the SMSC for, and how long a sent part waits for its report
        self.report_wait = timedelta(hours=report_wait_hours)
        self.validity_minutes = report_wait.validity_minutes(self.report_wait)
        self.listeners: list[Callable[[], None]] = []  # told when something becomes due
        self.status_hooks: list[StatusHook] = []  # in the transaction of every status change
        self.status_listeners: list[Callable[[int, str], None]] = []  # (message id, new status), after commit
        # (message id, its SIM), after the commit in which its last awaited report was given up
        self.no_report_listeners: list[Callable[[int, str | None], None]] = []
        # in the transaction that ends a sent message's report wait, as status hooks are in a change's
        self.no_report_hooks: list[StatusHook] = []
        self.engine = engine_of(sessions)
        self.group = GroupCommit(self.engine)  # the send path's writes: several workers share a commit
        self.kept_early = KeptEarly()  # whether a part's `sent` need look for kept status reports

    # ---- in ---------------------------------------------------------------------------------
    def enqueue(self, to: str, text: str, *, priority: str = "normal", kind: str = "transactional",
                sim: str | None = None, expires_in: float | None = None, source: str = "cli") -> NewMessage:
        """Validate and store a message (state queued); it is sent only because it was stored."""
        return self.enqueue_many([{"to": to, "text": text, "priority": priority, "kind": kind, "sim": sim,
                                   "expires_in": expires_in}], source=source)[0]

    def enqueue_many(self, items: Sequence[Item], *, source: str,
                     along: Callable[[Connection, list[NewMessage]], None] | None = None) -> list[NewMessage]:
        """Store several messages at once, all or none, with consecutive ids. Each item: a mapping
        of `to`, `text` and optionally `priority`, `kind`, `sim`, `expires_in` (as enqueue's
        arguments), or an `Outgoing` (its number E.164 already, as a contact's is). A bad item
        raises RejectedMessage with its `index` before anything is stored. `along(connection,
        messages)` stores what belongs with them (their callback URLs) in the same transaction."""
        now = self.clock.now()
        messages = checked(items, source, now, region=self.default_region, ref16=self.ref16)

        def unit(conn: Connection) -> tuple[None, Changes]:
            stored = transitions.insert_messages(conn, messages, now)
            if along is not None:
                along(conn, messages)
            return stored

        self._write(unit)
        self._notify()
        return messages

    def enqueue_within(self, conn: Connection, items: Sequence[Item], *,
                       source: str) -> tuple[list[NewMessage], After]:
        """The same on the caller's transaction (the reply an SMS asks for commits with that SMS),
        status hooks included; the caller runs the returned function after its commit."""
        now = self.clock.now()
        messages = checked(items, source, now, region=self.default_region, ref16=self.ref16)
        _, changes = transitions.insert_messages(conn, messages, now)
        afters = self._hooks(conn, changes)

        def committed() -> None:
            self._committed(changes, afters)
            self._notify()

        return messages, committed

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    # ---- status changes: hooks in the transaction, listeners after the commit ----------------
    def _write(self, unit: Callable[[Connection], tuple[T, Changes]]) -> T:
        """Run a send-path unit of work (returning its value and the status changes it made) through
        the group commit, with the status hooks in its transaction."""
        def run(conn: Connection) -> tuple[T, Changes, list[After]]:
            with change_facts.scope():  # what the unit learnt of its messages, for their hooks
                value, changes = unit(conn)
                # no savepoint: a failing hook fails the unit, and the group commit rolls it all back
                return value, changes, self._hooks(conn, changes, savepoint=False)

        value, changes, afters = self.group.run(run)
        self._committed(changes, afters)
        return value

    def _hooks(self, conn: Connection, changes: Changes, *, savepoint: bool = True) -> list[After]:
        afters: list[After] = []
        for message_id, status in changes:
            run_in_transaction(self.status_hooks, conn, message_id, status, afters=afters, savepoint=savepoint)
        return afters

    def _committed(self, changes: Changes, afters: list[After]) -> None:
        run_after_commit(afters)
        for message_id, status in changes:
            _tell(self.status_listeners, message_id, status)

    # ---- claiming ---------------------------------------------------------------------------
    def claim(self, modem: str, *, may_take: Callable[[Candidate], bool] = lambda m: True,
              now: datetime | None = None) -> Claimed | None:
        """Take the most urgent due message this modem may send; None if there is none. `now` is the
        wall clock as the stored times know it (`ClockJumps.now`); the queue's clock otherwise."""
        now = now or self.clock.now()

        def unit(conn: Connection) -> tuple[Claimed | None, Changes]:
            claimed = transitions.claim(conn, modem, may_take, now)
            return claimed, [(claimed.id, MessageStatus.SENDING)] if claimed is not None else []

        claimed = self._write(unit)
        if claimed is None or claimed.expires_at is None:
            return claimed
        left = (claimed.expires_at - now).total_seconds()
        return dataclasses.replace(claimed, expires_at_monotonic=self.clock.monotonic() + left)

    # ---- per part ---------------------------------------------------------------------------
    def part_submitting(self, part_id: int, modem: str, *, after: Accepted | None = None,
                        unless_more_urgent_than: int | None = None,
                        check: Callable[[Connection], object | None] | None = None,
                        send: Callable[[], dict[str, Any]] | None = None) -> object | None:
        """Committed before the PDU is written: after a crash this part is known to be in doubt.
        Returns None when the part is now `submitting`, or what held it back (it stays pending).

        It is the only commit between two sends. `after`: the part the modem answered just before
        (this modem's previous part), recorded `sent` here whatever becomes of this one, so no part
        the network has waits for a later commit. The part must be `pending` and its message
        `sending` on this modem, else NOT_SENDING holds it (its message was settled meanwhile: a
        failure report, the sweep). `unless_more_urgent_than`: a priority; if a more urgent message
        is due for this modem, the part is held back with MORE_URGENT (a message claimed ahead steps
        aside for it: a one-time code never waits behind a promotion). `check(connection)`: a last
        check inside this transaction, just before the part is marked (the consent check: a STOP
        that lands just before the send is seen); what it returns, if not None, holds the part back.
        `send()`: the part's row in its SIM's history (`SimWindows.stamped`), stored with it when it
        goes, so the count survives a crash.
        """
        return self._write(lambda conn: send_transitions.submitting(
            conn, part_id, modem, self.clock.now(), unless_more_urgent_than, check, send, after, self.kept_early))

    def part_sent(self, part_id: int, reference: int | None, *, last: bool = False) -> None:
        """The network accepted a part; `last`: it was the message's last to go, so the message is
        `sent` in the same commit."""
        self._write(lambda conn: send_transitions.sent(conn, Accepted(part_id, reference, last), self.clock.now(),
                                                       self.kept_early))

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
                transitions.part_outcome(conn, part[0], part[1], detail, now)
            values: dict[str, Any] = {}
            if status == MessageStatus.SENT:
                values["sent_at"] = now
            if status in MessageStatus.FINAL:
                values["finished_at"] = now
            if detail and status != MessageStatus.SENT:
                values["last_error"] = detail
            if not transitions.move(conn, message_id, status, now, NOT_FINAL, values):
                return False, []
            transitions.record_events(conn, [transitions.event(message_id, status, now, detail)])
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
                transitions.part_outcome(conn, part_id, PartStatus.PENDING, error, now)
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
                if not transitions.partly_sent(conn, message_id):
                    values["sim"] = None  # free to go out on another SIM
            conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(**values))
            transitions.record_events(conn, [transitions.event(message_id, status, now, detail)])
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
        values: dict[str, Any] = {"attempts": transitions.one_attempt_less()}
        if not_before is not None:
            values["not_before"] = not_before

        def unit(conn: Connection) -> tuple[None, Changes]:
            if part_id is not None:
                transitions.part_outcome(conn, part_id, PartStatus.PENDING, reason, now)
            return transitions.requeue(conn, message_id, now, reason, values)

        self._write(unit)

    def defer(self, message_id: int, until: datetime, reason: str) -> None:
        """Back to the queue untouched until `until` (quiet hours): not an attempt, not a failure."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[None, Changes]:
            values: dict[str, Any] = {"attempts": transitions.one_attempt_less(), "not_before": until}
            changes = transitions.requeue(conn, message_id, now, f"deferred until {until.isoformat()}: {reason}", values)[1]
            if changes and not transitions.partly_sent(conn, message_id):
                conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(sim=None))
            return None, changes

        self._write(unit)

    def cancel(self, message_id: int, *, along: Callable[[Connection], None] | None = None) -> bool:
        """Cancel a message that has not started; False if it is too late. `along(connection)`
        stores what belongs with the cancellation (its audit entry) in the same transaction."""
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[bool, Changes]:
            done = conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id,
                                                       MESSAGES.c.status == MessageStatus.QUEUED)
                                .values(status=MessageStatus.CANCELLED, finished_at=now, updated_at=now)).rowcount
            if not done:
                return False, []
            transitions.record_events(conn, [transitions.event(message_id, MessageStatus.CANCELLED, now)])
            if along is not None:
                along(conn)
            return True, [(message_id, MessageStatus.CANCELLED)]

        return self._write(unit)

    def settle(self, message_ids: Iterable[int], *, resend_unknown: bool, detail: str) -> dict[str, int]:
        """Settle messages still `sending` by what their parts say (a worker that met an error it
        did not expect, or found nothing left to send): an in-doubt part makes it `unknown`
        (pending again with `resend_unknown`), a failed part `failed`, all parts accepted `sent`,
        otherwise it is queued again."""
        ids = list(message_ids)
        now = self.clock.now()
        return self._write(lambda conn: transitions.settle_all(conn, ids, now, resend_unknown, detail, None))

    # ---- reports -----------------------------------------------------------------
    def apply_report(self, modem: str, report: StatusReport) -> int | None:
        """Match a status report to the part it answers (same modem, reference and number, sent
        when the report's times say: `modem.report_match`).

        Returns the message id it matched, or None: then the report is kept (its part may not be
        recorded yet) and applied when a part of this modem is recorded with its reference.
        """
        now = self.clock.now()

        def unit(conn: Connection) -> tuple[int | None, Changes]:
            matched, new = send_transitions.apply_report(conn, modem, report, now)
            if matched is None:
                SQL["early_store"](conn, {"modem": modem, "reference": report.reference,
                                          "recipient": report.recipient, "status": report.status,
                                          "sent_at": report.sent_at, "discharged_at": report.discharged_at,
                                          "received_at": now})
                self.kept_early.kept(modem, now)
            return matched, [(matched, new)] if matched is not None and new is not None else []

        return self._write(unit)

    # ---- reading ----------------------------------------------------------------------------
    def get(self, message_id: int) -> Message | None:
        with self.sessions() as session:
            return session.scalar(select(Message).where(Message.id == message_id).options(
                selectinload(Message.parts), selectinload(Message.events)))

    def depth(self) -> dict[str, int]:
        """Messages per status (every status: for a report, not for a hot path)."""
        with self.sessions(bind=db.read_only(engine_of(self.sessions))) as session:
            return dict(tuple(row) for row in session.execute(select(Message.status, func.count()).group_by(Message.status)).all())

    def open_counts(self, statuses: Sequence[str] = NOT_FINAL) -> dict[str, int]:
        """How many messages are in each of these not-yet-final states (every one named, 0 when
        none): systemd's STATUS, the scrape's gauges and the console's dashboard read it on every
        update, so it is one count per status on `ix_messages_status_id` (never the finished
        millions) and a reader's transaction that never waits behind a writer."""
        with self.sessions(bind=db.read_only(engine_of(self.sessions))) as session:
            counts = dict(tuple(row) for row in session.execute(
                select(Message.status, func.count()).where(Message.status.in_(statuses)).group_by(Message.status)))
        return {status: int(counts.get(status, 0)) for status in statuses}
