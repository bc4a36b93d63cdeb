"""The queue's sweeps: what the engine's periodic job and a restart settle (expiry, reports that
will not come, messages left `sending`), each one transaction through the queue's group commit.

`Queue` takes these as a base class; they use its clock, its report wait, its hooks and its
`_write` (the status hooks in the change's transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.core.hooks import After, run_after_commit, run_in_transaction
from gateway.outbound import send_transitions, transitions
from gateway.outbound.models import Message, MessageStatus, Part, PartStatus
from gateway.outbound.transitions import MESSAGES, Changes
from gateway.store.group_commit import GroupCommit

log = logging.getLogger("gsmgw.queue")
T = TypeVar("T")
# Runs inside the transaction that changed a message's status, so what it writes (a webhook event,
# a contact's flag) commits with the change or not at all; may return an action for after the commit.
StatusHook = Callable[[Connection, int, str], After | None]


class QueueSweeps:
    sessions: sessionmaker[Session]
    clock: Clock
    group: GroupCommit
    report_wait: timedelta
    no_report_hooks: list[StatusHook]
    no_report_listeners: list[Callable[[int, str | None], None]]

    def _write(self, unit: Callable[[Connection], tuple[T, Changes]]) -> T:
        raise NotImplementedError
    def expire_due(self, now: datetime | None = None) -> int:
        """Queued messages past their expiry become `expired` (an OTP is never sent late); a
        message stuck in `sending` is queued again by `release_stuck` first, then expires here.
        `now` as for `claim`."""
        now = now or self.clock.now()

        def unit(conn: Connection) -> tuple[int, Changes]:
            ids = conn.execute(update(MESSAGES).where(
                MESSAGES.c.status == MessageStatus.QUEUED, MESSAGES.c.expires_at.is_not(None),
                MESSAGES.c.expires_at <= now)
                .values(status=MessageStatus.EXPIRED, finished_at=now, updated_at=now)
                .returning(MESSAGES.c.id)).scalars().all()
            if ids:
                transitions.record_events(conn, [transitions.event(i, MessageStatus.EXPIRED, now) for i in ids])
            return len(ids), [(i, MessageStatus.EXPIRED) for i in ids]

        return self._write(unit)

    def record_no_reports(self, now: datetime | None = None, batch: int = 500) -> int:
        """Parts sent longer ago than the report wait with no final report are recorded as having
        none (`no_report`, with the time), `batch` parts a transaction; their messages stay `sent`.
        `now` as for `claim`. Returns how many parts."""
        hours = self.report_wait.total_seconds() / 3600
        detail = f"no status report within {hours:g} h"
        now = now or self.clock.now()
        total = 0

        def unit(conn: Connection) -> tuple[tuple[int, list[tuple[int, str | None]]], Changes, list[After]]:
            count, ended = send_transitions.no_reports(conn, now - self.report_wait, now, batch, detail)
            afters: list[After] = []
            for message_id, _sim in ended:
                run_in_transaction(self.no_report_hooks, conn, message_id, MessageStatus.SENT, afters=afters,
                                   savepoint=False)
            return (count, ended), [], afters

        while True:
            (count, ended), _, afters = self.group.run(unit)
            run_after_commit(afters)
            total += count
            for message_id, sim in ended:
                _tell(self.no_report_listeners, message_id, sim)
            if count < batch:
                return total

    def next_report_deadline(self) -> datetime | None:
        """When the oldest part still awaiting its report has waited long enough (None: none waits)."""
        with self.sessions() as session:
            oldest = session.scalar(select(func.min(Part.sent_at)).where(Part.status == PartStatus.SENT))
        return None if oldest is None else oldest + self.report_wait

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

    def _settle_sending(self, modems: Iterable[str] | None, *, resend_unknown: bool, detail: str,
                        stale_before: datetime | None = None) -> dict[str, int]:
        query = select(MESSAGES.c.id).where(MESSAGES.c.status == MessageStatus.SENDING)
        if modems is not None:
            query = query.where(MESSAGES.c.sim.in_(list(modems)))
        if stale_before is not None:
            query = query.where(MESSAGES.c.updated_at < stale_before)
        now = self.clock.now()
        return self._write(lambda conn: transitions.settle_all(conn, list(conn.execute(query).scalars()), now,
                                                               resend_unknown, detail, stale_before))


def _tell(listeners: Iterable[Callable[[int, Any], None]], message_id: int, value: Any) -> None:
    """Listeners after a commit: one that fails is logged and the others are still told."""
    for listener in listeners:
        try:
            listener(message_id, value)
        except Exception:
            log.exception("listener %r failed for message %d", listener, message_id)
