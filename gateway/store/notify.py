"""Waking the workers of every gateway on one PostgreSQL database when a message is queued.

A gateway's own enqueue wakes its workers in-process (`Queue.listeners`); a message queued by
another gateway, or by `gsmgw send` in another process, reaches them through PostgreSQL's
LISTEN/NOTIFY: the enqueue's transaction sends a notification, which the server delivers when it
commits, and each gateway's listener thread wakes its workers at once instead of at their next
poll. SQLite has no such channel (and one gateway per file): there it does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("gsmgw.notify")
CHANNEL = "gsmgw_queue"
RECONNECT_S = 5.0  # after the server went away


def announce(conn: Connection) -> None:
    """Within a transaction that queues messages: the listeners hear of it when it commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Listener:
    """A thread on its own connection that LISTENs on CHANNEL and calls `wake` per notification."""

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.wake = wake
        self.listening = threading.Event()  # set once LISTEN is in force (tests wait on it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                self.listening.clear()
                log.exception("listening for queued messages failed; polling until it is back")
                self._stop.wait(RECONNECT_S)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # a connection of its own, never handed back to the pool in LISTEN state
        try:
            conn.autocommit = True  # notifications arrive between transactions
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self.wake()  # anything queued while it was not listening
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.wake()
        finally:
            conn.close()


def listen(engine: Engine, wake: Callable[[], None]) -> Listener | None:
    """A started listener on PostgreSQL; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    listener = Listener(engine, wake)
    listener.start()
    return listener
