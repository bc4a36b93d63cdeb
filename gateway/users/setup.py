"""The one-time first-run setup code: printed and logged by the daemon, kept only as a SHA-256.

Whoever reaches the box first on the LAN must not become its admin: the setup page asks for this code,
which only someone who can see the daemon's output or log has. It is random (50 bits, in groups a
person can type), a new one at each start while no user exists, and deleted when the first user is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.users.models import SetupCode, User

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read off a screen and typed


def _digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def normalise(code: str) -> str:
    """What the person typed, without spaces or dashes, upper case."""
    return "".join(c for c in code.upper() if c.isalnum())


def matches(code: str, code_hash: str) -> bool:
    return hmac.compare_digest(_digest(code), code_hash)


def issue(sessions: sessionmaker[Session], clock: Clock) -> str | None:
    """A new setup code if no user exists (any earlier one is replaced), else None."""
    with sessions.begin() as session:
        if session.scalar(select(func.count()).select_from(User)):
            session.execute(delete(SetupCode))
            return None
        raw = "".join(secrets.choice(ALPHABET) for _ in range(10))
        session.execute(delete(SetupCode))
        session.add(SetupCode(code_hash=_digest(raw), created_at=clock.now()))
        return f"{raw[:5]}-{raw[5:]}"
