"""The audit log: `record` in the transaction of the change it describes, so both commit or neither.

Pages and commands call `record(session, clock, action, ...)`; admins read it with `recent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.users.models import AuditEntry

# what the console and the CLI record so far; later pages add theirs (sent, imported, opted in/out…)
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
SETUP = "setup"
USER_ADDED = "user_added"
PASSWORD_CHANGED = "password_changed"
LANGUAGE_CHANGED = "language_changed"
MESSAGE_SENT = "message_sent"
MESSAGE_CANCELLED = "message_cancelled"
USER_DISABLED = "user_disabled"
USER_ENABLED = "user_enabled"
CAMPAIGN_PAUSED = "campaign_paused"
CAMPAIGN_RESUMED = "campaign_resumed"
CAMPAIGN_CANCELLED = "campaign_cancelled"
CAMPAIGN_WINNER = "campaign_winner"


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str | None
    action: str
    detail: str
    address: str | None


def record(session: Session, clock: Clock, action: str, *, actor: str | None = None, detail: str = "",
           address: str | None = None) -> None:
    """Add one entry to the caller's transaction."""
    session.add(AuditEntry(at=clock.now(), actor=actor, action=action, detail=detail[:2000], address=address))


def recent(sessions: sessionmaker[Session], limit: int = 200) -> list[Entry]:
    """The newest entries first."""
    with sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [Entry(r.at, r.actor, r.action, r.detail, r.address) for r in rows]


def record_within(conn: Connection, clock: Clock, action: str, *, actor: str | None = None, detail: str = "",
                  address: str | None = None) -> None:
    """The same entry on the caller's Core connection: for a change made by a room's own
    transaction (the queue's enqueue and cancel hand theirs to an `along` callback)."""
    conn.execute(insert(AuditEntry).values(at=clock.now(), actor=actor, action=action, detail=detail[:2000],
                                           address=address))
