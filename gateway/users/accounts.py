"""Users of the console: add, change a password, sign in, the first admin through the setup code.

Roles: `admin` (everything) and `staff` (send, inbox, contacts, campaigns; not settings, keys,
webhooks or users). There is no default password: the first admin comes from the one-time setup code
the daemon prints (`setup.py`) or from `gsmgw user add`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.users import audit, passwords
from gateway.users.models import SetupCode, User

ROLES = ("admin", "staff")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only stops a megabyte "password"
MAX_NAME = 64


class UserError(ValueError):
    """Why a user could not be added or changed, in words for the person who asked."""


@dataclass(frozen=True)
class Account:
    """A user as the console holds it (never the hash itself)."""

    id: int
    name: str
    role: str
    language: str | None
    # changes with the password, so a new password signs out every session made with the old one
    session_key: str
    disabled: bool = False  # cannot sign in; their sessions end

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _account(user: User) -> Account:
    ended = f":{user.sessions_ended_at.timestamp():.6f}" if user.sessions_ended_at else ""
    key = hashlib.sha256((user.password_hash + ended).encode()).hexdigest()[:16]
    return Account(user.id, user.name, user.role, user.language, key, user.disabled_at is not None)


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError(f"a user name is 1 to {MAX_NAME} characters without spaces")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    return role


def any_user(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return bool(session.scalar(select(func.count()).select_from(User)))


def add(sessions: sessionmaker[Session], clock: Clock, name: str, password: str, role: str, *,
        actor: str | None = None, address: str | None = None) -> Account:
    """A new user; UserError if the name is taken or the input is not acceptable. A setup code
    still waiting is dropped: once someone can sign in, nobody needs it."""
    name, password, role = check_name(name), check_password(password), check_role(role)
    with sessions.begin() as session:
        return _add_in(session, clock, name, password, role, actor=actor, address=address, action=audit.USER_ADDED)


def _add_in(session: Session, clock: Clock, name: str, password: str, role: str, *, actor: str | None,
            address: str | None, action: str) -> Account:
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise UserError(f"a user named {name!r} exists already")
    now = clock.now()
    user = User(name=name, password_hash=passwords.hash_password(password), role=role, created_at=now, updated_at=now)
    session.add(user)
    session.execute(delete(SetupCode))
    try:
        session.flush()
    except IntegrityError as exc:  # another process added the same name meanwhile
        raise UserError(f"a user named {name!r} exists already") from exc
    audit.record(session, clock, action, actor=actor or name, detail=f"{name} ({role})", address=address)
    return _account(user)


def set_password(sessions: sessionmaker[Session], clock: Clock, name: str, password: str, *,
                 actor: str | None = None, address: str | None = None) -> Account:
    """A new password for `name` (UserError if there is no such user)."""
    password = check_password(password)
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        user.password_hash = passwords.hash_password(password)
        user.updated_at = clock.now()
        audit.record(session, clock, audit.PASSWORD_CHANGED, actor=actor, detail=name, address=address)
        return _account(user)


def authenticate(sessions: sessionmaker[Session], name: str, password: str) -> Account | None:
    """The user if the password is theirs, else None (an unknown name takes as long as a wrong password).
    A hash made with weaker parameters than today's is renewed."""
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.name == name.strip()))
        if not passwords.verify(user.password_hash if user else None, password[:MAX_PASSWORD]):
            return None
        assert user is not None
        if user.disabled_at is not None:
            return None
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        return _account(user)


def get(sessions: sessionmaker[Session], user_id: int) -> Account | None:
    with sessions() as session:
        user = session.get(User, user_id)
        return _account(user) if user else None


def all_users(sessions: sessionmaker[Session]) -> list[Account]:
    """Every user, by name."""
    with sessions() as session:
        return [_account(u) for u in session.scalars(select(User).order_by(User.name)).all()]


def set_disabled(sessions: sessionmaker[Session], clock: Clock, user_id: int, disabled: bool, *,
                 actor: str, address: str | None = None) -> Account:
    """Disable a user (they cannot sign in, their sessions end; kept for the audit log) or enable
    them again. Nobody disables themselves, so an admin cannot lock themselves out, and the last
    admin who can sign in stays. UserError says why not."""
    with sessions.begin() as session:
        user = session.get(User, user_id)
        if user is None:
            raise UserError("no such user")
        if disabled and user.name == actor:
            raise UserError("you cannot disable yourself")
        if disabled and user.role == "admin":
            admins = session.scalar(select(func.count()).select_from(User).where(
                User.role == "admin", User.disabled_at.is_(None), User.id != user.id))
            if not admins:
                raise UserError("the last admin cannot be disabled")
        if (user.disabled_at is not None) != disabled:
            user.disabled_at = clock.now() if disabled else None
            user.updated_at = clock.now()
            if disabled:
                user.sessions_ended_at = clock.now()
            audit.record(session, clock, audit.USER_DISABLED if disabled else audit.USER_ENABLED, actor=actor,
                         detail=user.name, address=address)
        return _account(user)


def set_language(sessions: sessionmaker[Session], clock: Clock, user_id: int, language: str | None, *,
                 address: str | None = None) -> None:
    with sessions.begin() as session:
        user = session.get(User, user_id)
        if user is None:
            return
        user.language = language
        audit.record(session, clock, audit.LANGUAGE_CHANGED, actor=user.name, detail=language or "browser",
                     address=address)


def create_first_admin(sessions: sessionmaker[Session], clock: Clock, code: str, name: str, password: str, *,
                       address: str | None = None) -> Account:
    """The first admin, if `code` is the setup code the daemon printed and no user exists yet; the
    code is gone with it (one transaction: two people racing cannot both become admin)."""
    from gateway.users.setup import matches

    name, password = check_name(name), check_password(password)
    with sessions.begin() as session:
        if session.scalar(select(func.count()).select_from(User)):
            raise UserError("the console is set up already: sign in")
        stored = session.scalars(select(SetupCode.code_hash)).all()
        if not any(matches(code, h) for h in stored):
            raise UserError("that is not the setup code the gateway printed at start")
        return _add_in(session, clock, name, password, "admin", actor=name, address=address, action=audit.SETUP)
