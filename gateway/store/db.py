"""Database engine and migrations.

SQLite runs in WAL mode with synchronous=FULL: a commit that returned survives a power cut, which is
what "nothing queued is lost" rests on. Alembic migrations run from code (no ini file to install).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
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
        event.listen(engine, "begin", _begin)
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


def _begin(conn: Connection) -> None:
    driver = conn.connection.driver_connection
    if conn.get_execution_options().get(_READ_ONLY):
        driver.begin_reading()  # type: ignore[union-attr]
    else:
        driver.begin_immediate()  # type: ignore[union-attr]


_READ_ONLY = "gsmgw_read_only"


def read_only(engine: Engine) -> Engine:
    """The engine for transactions that only read (counts for systemd's STATUS, a scrape, the
    send-time check before the prompt): on SQLite they begin deferred and take no writer turn, so
    they never wait behind a writer, in this process or another (WAL: a reader sees the last commit).
    A write in one fails, as it would otherwise take the write lock without the turn: SQLite refuses
    it (`PRAGMA query_only`), PostgreSQL too (a `READ ONLY` transaction)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine.execution_options(**{_READ_ONLY: True})


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
        self._query_only = False  # writes refused: the last transaction begun was a reader's

    def begin_reading(self) -> None:
        """A deferred BEGIN that takes no writer turn, writes refused until a writer's transaction
        begins on this connection again (the pragma changes only when the use does)."""
        if not self._query_only:
            self.execute("PRAGMA query_only=ON")
            self._query_only = True
        self.execute("BEGIN")

    def begin_immediate(self) -> None:
        if self._query_only:
            self.execute("PRAGMA query_only=OFF")
            self._query_only = False
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


# psycopg caches a statement's parsing up to this size (psycopg/_queries.py) and parses a longer one
PSYCOPG_PARSED_CACHE_BYTES, PSYCOPG_PARSED_CACHE_PARAMS = 4096, 50  # anew on every run


class Prepared:
    """A Core statement compiled once per database driver and run on the connection's DBAPI cursor.

    `Connection.execute` derives a cache key, processes parameters and builds a result object on
    every call: about 40 µs, several times the SQLite call itself, and the send path runs ~16
    statements per message inside the single writer's transaction. Here the SQL, the parameter
    order and the type conversions are worked out once. The statement runs in the Connection's
    transaction (begun if need be, so its commit commits it), and driver errors come back as
    SQLAlchemy's, with a dropped server connection invalidated as Connection.execute would.
    Rows are named tuples with result types applied (datetimes as aware datetimes).
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[tuple[Any, ...], _Compiled] = {}

    def __call__(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] = ()) -> Rows:
        first = params if isinstance(params, Mapping) else (params[0] if params else {})
        dialect = conn.dialect
        # the SQL differs by database and driver; an INSERT's columns are the keys it is given
        key = (dialect.name, dialect.driver, dialect.paramstyle, tuple(first))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(self.statement, dialect, key[-1])
        return compiled.run(conn, params)


class _Compiled:
    def __init__(self, statement: Any, dialect: Any, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if any(bind.expanding for bind in compiled.binds.values()):  # rendered anew on every execution
            raise ValueError(f"an IN list cannot be prepared (spell it out with or_): {compiled}")
        if compiled.insert_prefetch or compiled.update_prefetch:  # filled in by an execution context
            raise ValueError(f"give these columns' values, their defaults are not applied here: "
                             f"{[c.key for c in compiled.insert_prefetch + compiled.update_prefetch]}")
        self.sql = str(compiled)
        if dialect.driver == "psycopg" and (len(self.sql.encode()) > PSYCOPG_PARSED_CACHE_BYTES
                                            or len(compiled.binds) > PSYCOPG_PARSED_CACHE_PARAMS):
            raise ValueError(f"psycopg would parse this statement again on every run ({len(self.sql.encode())} "
                             f"bytes, {len(compiled.binds)} parameters): shorten it\n{self.sql}")
        # the values written into the statement itself (`.values(status="sent")`)
        self.defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positional else None
        self.bind = {name: processor for name, bind in compiled.binds.items()
                     if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        columns = list(getattr(statement, "exported_columns", ()))
        self.result = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self.row = namedtuple("Row", [column.key for column in columns], rename=True) if columns else None
        self.plain = all(processor is None for processor in self.result)

    def _args(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params}
        for name, processor in self.bind.items():
            if name in values:
                values[name] = processor(values[name])
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)

    def run(self, conn: Connection, params: Any) -> Rows:
        if isinstance(params, Mapping):
            args, many = self._args(params), False
        else:
            args, many = [self._args(p) for p in params] if params else self._args({}), bool(params)
        if many and self.row is not None:
            raise ValueError("rows come back from one parameter set at a time, not from a list of them")
        if not conn.in_transaction():
            conn.begin()  # so that conn.commit() commits what runs below
        driver = conn.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            if many:
                cursor.executemany(self.sql, args)
            else:
                cursor.execute(self.sql, args)
            raw = cursor.fetchall() if self.row is not None else []
            count = cursor.rowcount
        except conn.dialect.loaded_dbapi.Error as exc:
            gone = conn.dialect.is_disconnect(exc, driver, cursor)
            with suppress(conn.dialect.loaded_dbapi.Error):
                cursor.close()
            if gone:
                conn.invalidate(exc)
            raise DBAPIError.instance(self.sql, args, exc, conn.dialect.loaded_dbapi.Error,
                                      connection_invalidated=gone, dialect=conn.dialect) from exc
        cursor.close()
        return self.rows(raw, count)

    def rows(self, raw: list[Any], count: int) -> Rows:
        if self.row is None:
            return Rows([], count)
        make = self.row._make
        if self.plain:
            rows = [make(r) for r in raw]
        else:
            rows = [make(v if p is None else p(v) for p, v in zip(self.result, r, strict=True)) for r in raw]
        return Rows(rows, count)


class KeptRead:
    """One small read that many threads run before every send (the settings' version), on a
    connection kept open for it in each thread that reads, each read outside any transaction.

    A pooled reader's transaction costs a checkout and, on PostgreSQL, four round trips (the pool's
    ping, `BEGIN READ ONLY`, the read, `ROLLBACK`): about 0.5 ms, three times per send, two of them
    between the modem's answer and the next AT+CMGS. Here it is the read alone (one round trip, one
    statement: it sees the last commit, as a transaction of its own would; SQLite in WAL mode reads
    without a lock). A connection per thread, so no worker waits for another's read; a dropped one
    is opened once more.
    """

    def __init__(self, engine: Engine, statement: Any) -> None:
        self._engine = engine
        self._compiled = _Compiled(statement, engine.dialect, ())
        self._args = self._compiled._args({})
        self._kept = PerThread(self._open)  # each thread's driver connection, autocommitting

    def __call__(self) -> Rows:
        try:
            return self._read(fresh=False)
        except self._engine.dialect.loaded_dbapi.Error:
            self._kept.drop()  # the server went away or dropped it: once more on a new one
            return self._read(fresh=True)

    def _read(self, *, fresh: bool) -> Rows:
        cursor = self._kept.get().cursor()
        try:
            cursor.execute(self._compiled.sql, self._args)
            raw = cursor.fetchall()
            count = cursor.rowcount
        except self._engine.dialect.loaded_dbapi.Error as exc:
            if not fresh:
                raise
            self._kept.drop()
            raise DBAPIError.instance(self._compiled.sql, self._args, exc, self._engine.dialect.loaded_dbapi.Error,
                                      dialect=self._engine.dialect) from exc
        finally:
            with suppress(self._engine.dialect.loaded_dbapi.Error):
                cursor.close()
        return self._compiled.rows(raw, count)

    def _open(self) -> Any:
        pooled = self._engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # its own, never handed back to the pool in autocommit
        if self._engine.dialect.name == "postgresql":
            conn.autocommit = True  # type: ignore[union-attr]
        # SQLite's connections begin nothing by themselves (_sqlite_connect): a read alone is its own
        return conn

    def close(self) -> None:
        """Close the kept connections (the engine is about to be disposed, the readers stopped); a
        thread that reads later opens another."""
        self._kept.close()


class PerThread:
    """A connection each thread keeps, opened by `open` at the thread's first use, and every
    thread's closed together (`close`) when the engine is about to go."""

    def __init__(self, open: Callable[[], Any]) -> None:
        self._open = open
        self._local = threading.local()  # .conn: this thread's
        self._opened: list[Any] = []  # every thread's, for close()
        self._guard = threading.Lock()

    def get(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
            with self._guard:
                self._opened.append(conn)
        return conn

    def drop(self) -> None:
        """Close this thread's (the server dropped it): its next use opens another."""
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with self._guard:
                if conn in self._opened:
                    self._opened.remove(conn)
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._guard:
            opened, self._opened = self._opened, []
        for conn in opened:
            with suppress(Exception):
                conn.close()


class Rows:
    """The rows a Prepared statement returned (or the number it changed), with Result's accessors."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if not self.rows:
            raise NoResultFound("expected one row, got none")
        if len(self.rows) > 1:
            raise MultipleResultsFound(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]
