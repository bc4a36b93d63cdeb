"""Reading and writing the overrides; each write bumps the version and records its audit entry in
the same transaction. `Snapshot` is how the running code reads the effective values: one small read
of the version per use, the overrides re-read only when it moved (by any gateway on the database).
On PostgreSQL a gateway's listener hears each change (`notify.SETTINGS`), so there the version is
read only after one."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.core.clock import Clock
from gateway.core.config import Config
from gateway.settings.keys import Invalid, defaults, validate
from gateway.settings.models import SettingOverride, SettingsVersion
from gateway.store import notify
from gateway.store.db import KeptRead, engine_of, read_only
from gateway.users import audit

SETTING_CHANGED = "setting_changed"
SETTING_RESET = "setting_reset"


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    changed_by: str | None
    changed_at: datetime


_VERSION = select(SettingsVersion.version).where(SettingsVersion.id == 1)


def overrides(sessions: sessionmaker[Session]) -> dict[str, Override]:
    with read_only(engine_of(sessions)).connect() as conn:
        return _overrides(conn)


def _overrides(conn: Connection) -> dict[str, Override]:
    rows = conn.execute(select(SettingOverride.__table__)).all()
    return {r.key: Override(r.key, json.loads(r.value), r.changed_by, r.changed_at) for r in rows}


def in_force(sessions: sessionmaker[Session], config: Config) -> dict[str, Any]:
    """Every key the console can change, with the value in force (the console's, else the file's)."""
    values = defaults(config)
    values.update({k: o.value for k, o in overrides(sessions).items() if k in values})
    return values


def change(sessions: sessionmaker[Session], clock: Clock, config: Config, values: dict[str, Any], *,
           actor: str | None, address: str | None = None) -> dict[str, Any]:
    """Store the values that differ from those in force; a value None sets its key back to the
    config file's value. They are validated together with the rest in force (a new per-hour limit
    against the per-minute one): Invalid names each bad key, and then nothing is stored. One
    transaction, each change audited. Returns what changed (a key set back: with the file's value)."""
    current = in_force(sessions, config)
    unknown = {k: ("unknown", {}) for k in values if k not in current}
    if unknown:
        raise Invalid(unknown)
    file = defaults(config)
    resets = [k for k, v in values.items() if v is None]
    wanted = {k: v for k, v in values.items() if v is not None}
    clean = validate({**current, **{k: file[k] for k in resets}, **wanted})
    changes = {k: clean[k] for k in wanted if clean[k] != current[k]}
    now = clock.now()
    changed: dict[str, Any] = {}
    with sessions.begin() as session:
        rows = {r.key: r for r in session.scalars(select(SettingOverride)
                                                  .where(SettingOverride.key.in_(list(changes) + resets))).all()}
        for key in resets:
            if key in rows:
                session.delete(rows[key])
                changed[key] = file[key]
                audit.record(session, clock, SETTING_RESET, actor=actor, detail=key, address=address)
        for key, value in changes.items():
            row = rows.get(key)
            if row is None:
                session.add(SettingOverride(key=key, value=json.dumps(value), changed_by=actor, changed_at=now))
            else:
                row.value, row.changed_by, row.changed_at = json.dumps(value), actor, now
            changed[key] = value
            audit.record(session, clock, SETTING_CHANGED, actor=actor, detail=f"{key} = {value}", address=address)
        if changed:
            _bump(session)  # in the same commit: a reader never sees the values without the version
    if changed:
        _CHANGES_HERE.count()
    return changed


def reset(sessions: sessionmaker[Session], clock: Clock, key: str, *, actor: str | None,
          address: str | None = None) -> bool:
    """Back to the config file's value (the override deleted). False: there was none."""
    with sessions.begin() as session:
        gone = session.execute(delete(SettingOverride).where(SettingOverride.key == key)).rowcount
        if gone:
            audit.record(session, clock, SETTING_RESET, actor=actor, detail=key, address=address)
            _bump(session)
    if gone:
        _CHANGES_HERE.count()
    return bool(gone)


def _bump(session: Session) -> None:
    if not session.execute(update(SettingsVersion).where(SettingsVersion.id == 1)
                           .values(version=SettingsVersion.version + 1)).rowcount:
        session.add(SettingsVersion(id=1, version=1))
    notify.announce(session.connection(), notify.SETTINGS)


class _Counter:
    """The changes this process committed: a following Snapshot reads the version again at once
    after one, not only once the notification (sent at the same commit) has come back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def count(self) -> None:
        with self._lock:
            self.value += 1


_CHANGES_HERE = _Counter()


class Snapshot:
    """The overrides as of the database's current version; `values()` is safe from any thread and
    inside a caller's transaction (a reader's own: on SQLite it takes no writer turn). The version
    is read before every send, so it is one statement on a kept connection (`db.KeptRead`); once
    `follow`ing a listener, only after a change was heard (or made in this process)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        engine = engine_of(sessions)
        self._reader = read_only(engine)
        self._version_now = KeptRead(engine, _VERSION)
        self._lock = threading.Lock()
        self._version = -1
        self._values: dict[str, Any] = {}
        self._listening: threading.Event | None = None
        self._heard_change = True
        self._changes_seen = -1

    def follow(self, listening: threading.Event) -> None:
        """While `listening` is set, a listener calls `changed` on each change of any gateway's."""
        self._listening = listening

    def changed(self) -> None:
        self._heard_change = True

    def values(self) -> tuple[int, dict[str, Any]]:
        """(version, {key: value}): re-read only when the version moved."""
        if self._listening is not None and self._listening.is_set():
            with self._lock:
                if not self._heard_change and self._changes_seen == _CHANGES_HERE.value:
                    return self._version, self._values
                # cleared before the read: a change heard while it runs is read again next time
                self._heard_change, self._changes_seen = False, _CHANGES_HERE.value
        now = int(self._version_now().scalar() or 0)
        with self._lock:
            if now != self._version:
                with self._reader.connect() as conn:  # the values with the version they belong to
                    self._version = int(conn.scalar(_VERSION) or 0)
                    self._values = {k: o.value for k, o in _overrides(conn).items()}
            return self._version, self._values

    def close(self) -> None:
        self._version_now.close()
