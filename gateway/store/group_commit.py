"""Group commit: the send path's small transactions from several threads share one commit.

Every worker commits a message's state before and after each AT+CMGS, and the status reports coming
back commit too; with durable commits each costs an fsync, and one database takes one writer at a
time. Here a caller puts its unit of work in a list; whoever holds the leader lock runs everything
in the list in one transaction and one commit, then wakes the callers it served. A caller returns
only after the commit that holds its work, so durability is what it was with a commit of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")


class _Work(Generic[T]):
    def __init__(self, call: Callable[[Connection], T]) -> None:
        self.call = call
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def result(self) -> T:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[no-any-return]


class GroupCommit:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None  # the leader's, kept between batches (a checkout costs more than a unit)
        self._pending: list[_Work[Any]] = []
        self._guard = threading.Lock()  # protects _pending
        self._leader = threading.Lock()  # one batch at a time
        self.batches = 0
        self.works = 0

    def run(self, call: Callable[[Connection], T]) -> T:
        """Run `call(connection)` in a transaction that is committed when this returns.

        `call` must only touch the database (it may run in another caller's thread, and again on
        its own if a unit of work next to it failed); its return value comes back here."""
        work: _Work[T] = _Work(call)
        with self._guard:
            self._pending.append(work)
        with self._leader:
            if not work.done.is_set():  # else the batch before took it along
                with self._guard:
                    batch, self._pending = self._pending, []
                self._execute(batch)
        return work.result()

    def _execute(self, batch: list[_Work[Any]], *, fresh: bool = False) -> None:
        conn, self._conn = (None if fresh else self._conn), None
        kept = conn is not None
        try:
            if conn is None:
                conn = self._engine.connect()
            values = [work.call(conn) for work in batch]
            conn.commit()
        except Exception as exc:
            if conn is not None:
                conn.close()  # rolls back; the next batch takes a new connection
            if kept and getattr(exc, "connection_invalidated", False):
                self._execute(batch, fresh=True)  # the server dropped the kept connection: once more
            elif len(batch) == 1:
                _finish(batch[0], None, exc)
            else:  # one failed, and the rollback took the others with it: each alone now
                for work in batch:
                    self._execute([work])
            return
        except BaseException as exc:  # an interrupt: the callers fail with it rather than wait forever
            if conn is not None:
                conn.close()
            for work in batch:
                _finish(work, None, exc)
            raise
        self._conn = conn
        self.batches += 1
        self.works += len(batch)
        for work, value in zip(batch, values, strict=True):
            _finish(work, value, None)

    def close(self, timeout: float = 2.0) -> None:
        """Give the kept connection back to the pool (the engine is about to be disposed); a batch
        still running after `timeout` keeps it (shutting down must not wait on a stuck writer)."""
        if not self._leader.acquire(timeout=timeout):
            return
        try:
            conn, self._conn = self._conn, None
        finally:
            self._leader.release()
        if conn is not None:
            conn.close()


def _finish(work: _Work[Any], value: Any, error: BaseException | None) -> None:
    work.value, work.error = value, error
    work.done.set()
