"""Telling every gateway on one PostgreSQL database that something changed: a message was queued
(QUEUE), a setting was changed in a console (SETTINGS).

A gateway's own enqueue wakes its workers in-process (`Queue.listeners`); a message queued by
another gateway, or by `gsmgw send` in another process, reaches them through PostgreSQL's
LISTEN/NOTIFY: the transaction sends a notification, which the server delivers when it commits,
and each gateway's listener thread calls what listens on that channel at once, instead of the
workers finding out at their next poll (or the settings being read again before every send).
SQLite has no such channel (and one gateway per file): there it does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("gsmgw.notify")
QUEUE = "gsmgw_queue"
SETTINGS = "gsmgw_settings"
RECONNECT_S = 5.0  # after the server went away


def announce(conn: Connection, channel: str = QUEUE) -> None:
    """Within a transaction that changes what `channel` is about: the listeners hear of it when it
    commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Listener:
    """A thread on its own connection that LISTENs on each channel and calls its callback per
    notification. Each callback is also called whenever LISTEN (again) comes in force, before
    `listening` is set: what was announced while nobody listened is not missed, even by a follower
    that stops reading once `listening` says the notifications will tell it."""

    def __init__(self, engine: Engine, callbacks: Mapping[str, Callable[[], None]]) -> None:
        self.engine = engine
        self.callbacks = dict(callbacks)
        # set while LISTEN is in force: a notification would be heard (cleared when the connection
        # fails, until it is back)
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop listening (nothing to do if it never started: a daemon stopped before its start)."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                log.exception("listening for changes failed; polling for them until it is back")
                self._stop.wait(RECONNECT_S)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # a connection of its own, never handed back to the pool in LISTEN state
        try:
            conn.autocommit = True  # notifications arrive between transactions
            for channel in self.callbacks:
                conn.execute(f"LISTEN {channel}")
            for callback in self.callbacks.values():
                callback()  # anything announced while it was not listening...
            self.listening.set()  # ...is taken up before anyone trusts the notifications alone
            while not self._stop.is_set():
                for heard in conn.notifies(timeout=1.0, stop_after=1):
                    callback = self.callbacks.get(heard.channel)
                    if callback is not None:
                        callback()
        finally:
            self.listening.clear()
            conn.close()


def listener(engine: Engine, callbacks: Mapping[str, Callable[[], None]]) -> Listener | None:
    """A listener (not started yet) on PostgreSQL; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    return Listener(engine, callbacks)
