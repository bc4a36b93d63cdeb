"""What each SIM sent when (`sim_sends`): the input of its rolling limit windows and of stickiness.

A send is recorded inside the commit that marks its part `submitting` (so a crash loses no count),
stamped on the wall clock and on the monotonic one with its boot. Read back, a send's age is measured
on the monotonic clock when it belongs to this boot, so a wall-clock jump (NTP after a Pi's boot, while
the daemon runs or while it was down) neither lets a window overrun (forward) nor stalls it
(backward). A send of an earlier boot has only its wall-clock time; one that reads as later than now
counts as sent now, so it holds the window at most one window long.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.sims.models import SimSend
from gateway.store.db import Prepared

SENDS = SimSend.__table__
RECORD = Prepared(insert(SENDS))  # it runs in every part's `submitting` commit (one statement with it on PostgreSQL)


def record(conn: Connection, row: dict[str, Any]) -> None:
    """One part handed to the network (`row`: `SendHistory.stamped` with its `part_id`), in the
    caller's transaction."""
    RECORD(conn, row)


class SendHistory:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def stamped(self, *, sim: str, modem: str, to_number: str) -> dict[str, Any]:
        """A `sim_sends` row (but its part) for a send by `sim` now: `record` stores it."""
        return {"sim": sim, "modem": modem, "to_number": to_number, "at": self.clock.now(),
                "monotonic": self.clock.monotonic(), "boot": self.clock.boot_id()}

    def times(self, sim: str, span: float) -> list[float]:
        """Monotonic times (this boot's clock) of the sends of `sim` in the last `span` seconds, ascending."""
        mono_now, wall_now, boot = self.clock.monotonic(), self.clock.time(), self.clock.boot_id()
        c = SENDS.c
        this_boot = and_(c.boot == boot, c.monotonic.is_not(None))
        with self.sessions() as session:
            rows = session.execute(select(c.at, c.monotonic, this_boot.label("this_boot")).where(
                c.sim == sim,
                or_(and_(this_boot, c.monotonic > mono_now - span),
                    and_(~this_boot, c.at > datetime.fromtimestamp(wall_now - span, UTC))))).all()
        return sorted(row.monotonic if row.this_boot else mono_now - max(0.0, wall_now - row.at.timestamp())
                      for row in rows)
