"""API keys for LAN apps: `gsk_<random>` tokens, shown once, kept only as a SHA-256 hash.

Why a plain, fast hash and not bcrypt/argon2: a token is 256 bits from `secrets`, not a password a
person chose. Nobody can guess or brute-force 2^256 candidates however fast the hash is, so a slow
hash would only slow down every API request (each one checks its key) and protect nothing. The hash
makes a stolen database useless for calling the API; the short prefix ("gsk_ab12cd34") lets people
tell keys apart in lists without exposing them.

Scopes: `send` (queue and cancel messages, record opt-ins and opt-outs), `contacts` (audience
changes: add, change and erase contacts, create and delete groups, change their members), `read`
(read messages, inbound, contacts, modems), `admin` (keys, webhooks; implies the others). `send` and
`contacts` are apart because a till that sends receipts need not be able to wipe the customer list.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.apikeys.models import ApiKey
from gateway.core.clock import Clock
from gateway.store.db import Prepared, engine_of

TOKEN_PREFIX = "gsk_"
SCOPES = ("send", "contacts", "read", "admin")


@dataclass(frozen=True)
class KeyInfo:
    """A key as the API and CLI show it (never the token, never the hash)."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, needed: Iterable[str]) -> bool:
        """True if the key holds any of the `needed` scopes (admin holds them all)."""
        return "admin" in self.scopes or bool(self.scopes & set(needed))

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "scopes": sorted(self.scopes),
                "created_at": _iso(self.created_at), "last_used_at": _iso(self.last_used_at),
                "revoked_at": _iso(self.revoked_at)}


@dataclass(frozen=True)
class NewKey:
    info: KeyInfo
    token: str  # shown once
    signing_secret: str  # signs webhooks for this key's per-message callback_url


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """'send,read' -> {'send', 'read'}; ValueError naming an unknown scope."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    scopes = frozenset(s for s in items if s)
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})")
    if not scopes:
        raise ValueError(f"give at least one scope ({', '.join(SCOPES)})")
    return scopes


def create(sessions: sessionmaker[Session], clock: Clock, name: str, scopes: str | Iterable[str]) -> NewKey:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("the name must be 1 to 100 characters")
    wanted = parse_scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits
    signing_secret = "whsec_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=token[:12], token_hash=hash_token(token), scopes=",".join(sorted(wanted)),
                 signing_secret=signing_secret, created_at=clock.now())
    with sessions.begin() as session:
        session.add(row)
    return NewKey(_info(row), token, signing_secret)


_BY_HASH = Prepared(select(ApiKey.__table__).where(ApiKey.__table__.c.token_hash == bindparam("digest")))


def verify(sessions: sessionmaker[Session], token: str) -> KeyInfo | None:
    """The key a token belongs to, if it exists and is not revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    with engine_of(sessions).connect() as conn:  # prepared, not ORM: this runs on every request
        row = _BY_HASH(conn, {"digest": digest}).first()
    # the lookup is by hash; comparing again in constant time costs nothing and documents intent
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return _info(row)  # type: ignore[arg-type]


def touch(sessions: sessionmaker[Session], key_id: int, when: datetime) -> None:
    with sessions.begin() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


def signing_secret(sessions: sessionmaker[Session], key_id: int) -> str | None:
    with sessions() as session:
        return session.scalar(select(ApiKey.signing_secret).where(ApiKey.id == key_id))


def list_keys(sessions: sessionmaker[Session]) -> list[KeyInfo]:
    with sessions() as session:
        return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id)).all()]


def get(sessions: sessionmaker[Session], key_id: int) -> KeyInfo | None:
    with sessions() as session:
        row = session.get(ApiKey, key_id)
        return _info(row) if row else None


def revoke(sessions: sessionmaker[Session], clock: Clock, key_id: int) -> KeyInfo | None:
    """Revoke a key (kept for the record); None if there is no such key. Revoking twice is fine."""
    with sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = clock.now()
        return _info(row)


def set_scopes(sessions: sessionmaker[Session], key_id: int, scopes: str | Iterable[str]) -> KeyInfo | None:
    """Give a key exactly these scopes (the token stays, so the app using it needs no change);
    None if there is no such key. ValueError for an unknown scope."""
    wanted = parse_scopes(scopes)
    with sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            return None
        row.scopes = ",".join(sorted(wanted))
        return _info(row)


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, frozenset(row.scopes.split(",")), row.created_at,
                   row.last_used_at, row.revoked_at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
