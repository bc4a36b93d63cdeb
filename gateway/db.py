"""Database engine and migrations.

SQLite runs in WAL mode with synchronous=FULL: a commit that returned survives a power cut, which is
what "nothing queued is lost" rests on. Alembic migrations run from code (no ini file to install).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False,
                                                  "factory": _WriteSerialisedConnection})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC", "CREATE", "DROP", "ALTER")
_write_locks: dict[str, threading.RLock] = {}
_write_locks_guard = threading.Lock()


class _WriteSerialisedConnection(sqlite3.Connection):
    """A SQLite connection that takes its database's process-wide write lock at its first write and
    releases it after commit or rollback.

    SQLite allows one writer; a second thread that finds the file locked sleeps in SQLite's busy
    handler in steps of up to 100 ms, so a worker and the status-report thread writing at once cost
    each other milliseconds per message. A Python lock hands over as soon as the writer commits.
    Other processes (`gsmgw send` while the daemon runs) still meet SQLite's busy timeout.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        with _write_locks_guard:
            self._write_lock = _write_locks.setdefault(str(database), threading.RLock())
        self._holding = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _WriteSerialisedCursor)

    def before_statement(self, sql: str) -> None:
        head = sql.lstrip()[:9].upper()
        savepoint = head.startswith("SAVEPOINT")
        if not self._holding and (savepoint or head.startswith(_WRITES)):
            if not self._write_lock.acquire(timeout=30):
                raise sqlite3.OperationalError("database is locked (waited 30 s for this process's writer)")
            self._holding = True
        if savepoint and not self.in_transaction:
            # sqlite3 opens a transaction only before INSERT/UPDATE/DELETE; a SAVEPOINT outside one
            # would be a transaction of its own, and its RELEASE a commit the outer rollback can't undo
            super().execute("BEGIN IMMEDIATE")

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self._write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


class _WriteSerialisedCursor(sqlite3.Cursor):
    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.connection.before_statement(sql)  # type: ignore[attr-defined]
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.connection.before_statement(sql)  # type: ignore[attr-defined]
        return super().executemany(sql, *args)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent). "heads": independent branches of
    migrations (each room adds its own tables) are all applied."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine a sessionmaker from `sessions()` is bound to: hot paths run Core statements on
    its connections, without an ORM session."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, Engine)
    return bind
