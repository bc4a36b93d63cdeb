"""When NTP steps the wall clock (a Raspberry Pi has no real-time clock), the waiting messages'
stored wall-clock times move with it.

A message stamped before the step carries times of the old clock: its retry backoff, limit wait or
quiet-hours deferral (`not_before`), its expiry (`expires_at`) and the time of its last change
(`updated_at`, by which the sweep finds messages stuck in `sending`). Left alone, a step back of a
day holds every queued message for a day, and a step forward expires one-time codes at once and
takes messages being sent for lost. The step is seen as a change of the wall clock's offset from
the monotonic one, against the offset last recorded for this boot (`clock_offsets`), so a step
while the daemon was down is seen at its start. Only what this boot wrote before the step moves:
its `updated_at` lies between the boot and the step on the old clock; times stored by an earlier
boot were made on its own clock.

What compares the clock with the stored times (a claim, the expiry sweep) reads `held()`: the
monotonic clock plus the offset last recorded, so a step that lands after the check and before the
comparison is not seen half (the clock moved, the stored times not yet) but at the next check, with
the times moved in the same stroke. While such a comparison runs, a step another thread sees (a
worker's claim, the sweep) is recorded, and the times moved, only once it is done: the comparison
never meets times moved to a clock its reading is not on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.outbound.models import Message, MessageStatus
from gateway.sims.models import ClockOffset

log = logging.getLogger("gsmgw.clock")
STEP = 60.0  # seconds: NTP slews small errors (up to 0.5 ms a second); a step after boot is larger
MESSAGES = Message.__table__
OFFSETS = ClockOffset.__table__
BATCH = 500


class ClockJumps:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self._offset: float | None = None  # as last recorded, this boot
        self._lock = threading.Lock()  # one thread records a step at a time
        self._comparing = threading.Condition()  # guards the two below
        self._held = 0  # comparisons under way with the offset recorded
        self._recording = False  # a step waits to be recorded: no new comparison starts

    def check(self) -> float:
        """Move the waiting messages' times if the wall clock stepped since the offset last recorded
        (cheap when it did not: no database access). Returns the step in seconds (0.0: none)."""
        offset = self.clock.time() - self.clock.monotonic()
        if self._offset is not None and abs(offset - self._offset) <= STEP:
            self._offset = offset  # NTP's slewing followed, so now() stays the wall clock
            return 0.0
        with self._lock:
            self._until_compared()
            try:
                return self._record(offset)
            finally:
                with self._comparing:
                    self._recording = False
                    self._comparing.notify_all()

    @contextmanager
    def held(self) -> Iterator[datetime]:
        """The wall clock as the stored times know it, for a comparison with them run inside the
        `with`: checked first, then read as the monotonic clock plus the offset recorded (never a
        reading taken after a step not yet recorded), and no step recorded until the block ends."""
        self.check()
        with self._comparing:
            self._comparing.wait_for(lambda: not self._recording)
            self._held += 1
        try:
            offset = self._offset if self._offset is not None else self.clock.time() - self.clock.monotonic()
            yield datetime.fromtimestamp(self.clock.monotonic() + offset, UTC)
        finally:
            with self._comparing:
                self._held -= 1
                self._comparing.notify_all()

    def _until_compared(self) -> None:
        """Wait for the comparisons under way to end, starting no new one meanwhile."""
        with self._comparing:
            self._recording = True
            self._comparing.wait_for(lambda: self._held == 0)

    def _record(self, offset: float) -> float:
        boot = self.clock.boot_id()
        with self.sessions.begin() as session:
            known = session.scalar(select(OFFSETS.c.wall_offset).where(OFFSETS.c.boot == boot))
            if known is None:
                session.execute(OFFSETS.insert().values(boot=boot, wall_offset=offset))
                self._offset = offset
                return 0.0
            step = offset - (self._offset if self._offset is not None else known)
            if abs(offset - known) <= STEP:
                self._offset = offset
                return 0.0
            # compare-and-set: one gateway (or thread) moves the times once
            if not session.execute(update(OFFSETS).where(OFFSETS.c.boot == boot, OFFSETS.c.wall_offset == known)
                                   .values(wall_offset=offset)).rowcount:
                self._offset = None
                return 0.0
            moved = _move_waiting(session, known, self.clock.monotonic(), step)
        self._offset = offset
        log.warning("the wall clock stepped %+.0f s; %d waiting messages' times moved with it", step, moved)
        return step


def _move_waiting(session: Session, old_offset: float, monotonic_now: float, step: float) -> int:
    """Shift not_before, expires_at and updated_at of the messages not final yet that this boot
    last changed before the step (their updated_at on the old clock: from the boot until now)."""
    m = MESSAGES.c
    since = datetime.fromtimestamp(old_offset, UTC)
    until = datetime.fromtimestamp(old_offset + monotonic_now, UTC)
    rows = session.execute(select(m.id, m.not_before, m.expires_at, m.updated_at).where(
        m.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]), m.updated_at >= since,
        m.updated_at <= until)).all()
    delta = timedelta(seconds=step)
    statement = (update(MESSAGES).where(m.id == bindparam("row_id"))
                 .values(not_before=bindparam("nb"), expires_at=bindparam("ex"), updated_at=bindparam("up")))
    for start in range(0, len(rows), BATCH):
        session.connection().execute(statement, [
            {"row_id": r.id, "nb": r.not_before + delta, "ex": r.expires_at + delta if r.expires_at else None,
             "up": r.updated_at + delta} for r in rows[start:start + BATCH]])
    return len(rows)
