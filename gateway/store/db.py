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
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False,
                                                  "factory": _WriterConnection})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # SQLAlchemy's pysqlite recipe: the driver begins nothing itself (it would begin only before
    # INSERT/UPDATE/DELETE, so a transaction's reads ran outside it); the "begin" event does
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(conn: Connection) -> None:
    conn.connection.driver_connection.begin_immediate()  # type: ignore[union-attr]


class _Turn:
    """One database file's writer turn in this process, and which thread has it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None


_writers: dict[str, _Turn] = {}
_writers_guard = threading.Lock()


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection whose every transaction is a writer's: `BEGIN IMMEDIATE`, so what a
    transaction reads is still true when it writes (one writer per database file at a time).

    Inside this process the turn is a lock per file, taken before BEGIN IMMEDIATE and released
    after COMMIT or ROLLBACK: SQLite's own busy handler sleeps in steps of up to 100 ms, a lock
    hands over the moment the writer is done. Other processes (`gsmgw send` while the daemon runs)
    wait in SQLite's busy timeout. A thread that opens a second transaction while it holds one
    would wait for itself: that is refused at once.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        with _writers_guard:
            self._turn = _writers.setdefault(str(database), _Turn())
        self._holding = False

    def begin_immediate(self) -> None:
        if self._turn.owner == threading.get_ident():
            raise RuntimeError("this thread already holds a transaction on this database")
        if not self._turn.lock.acquire(timeout=30):
            raise sqlite3.OperationalError("database is locked (waited 30 s for this process's writer)")
        self._holding = True
        self._turn.owner = threading.get_ident()
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self._turn.owner = None
            self._turn.lock.release()

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
