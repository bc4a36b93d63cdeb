"""Reads a worker makes before every send, on PostgreSQL on a connection its thread keeps.

A pooled reader's transaction (`db.read_only`) costs, on PostgreSQL, the pool's ping,
`BEGIN READ ONLY` and `ROLLBACK` around its reads: three round trips and a checkout, each send,
for the send-time check made while the modem works. Here each thread that reads keeps a connection
of its own, outside the pool (so the threads' kept connections never take the pool's slots): it
autocommits with `default_transaction_read_only` on, so each read is a read-only transaction of
its own, the snapshot READ COMMITTED gives each statement inside one anyway, and a write is still
refused. On SQLite, where a transaction costs no round trip, each use is one pooled reader's
transaction, as `db.read_only` begins it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from gateway.store.db import PerThread, read_only

T = TypeVar("T")


class KeptReader:
    def __init__(self, engine: Engine) -> None:
        self._postgresql = engine.dialect.name == "postgresql"
        self._engine = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT") \
            if self._postgresql else read_only(engine)
        self._kept = PerThread(self._open)  # each thread's Connection

    def run(self, read: Callable[[Connection], T]) -> T:
        """`read(connection)` on this thread's kept connection (SQLite: a reader's transaction);
        once more on a new one if the server dropped it."""
        if not self._postgresql:
            with self._engine.connect() as conn:
                return read(conn)
        try:
            return self._run(read)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            self._kept.drop()
            return self._run(read)

    def _run(self, read: Callable[[Connection], T]) -> T:
        conn = self._kept.get()
        try:
            return read(conn)
        finally:
            if conn.in_transaction():
                conn.rollback()  # SQLAlchemy's own record of one: autocommitting, the server has none open

    def _open(self) -> Connection:
        conn = self._engine.connect()
        conn.exec_driver_sql("SET default_transaction_read_only = on")
        conn.commit()
        return conn

    def close(self) -> None:
        """Close the kept connections (the engine is about to be disposed); a thread that reads
        later opens another."""
        self._kept.close()
        if self._postgresql:
            self._engine.dispose()
