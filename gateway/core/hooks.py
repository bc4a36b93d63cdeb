"""Hooks that run inside the transaction of a change, and what they leave for after its commit.

What must not be lost with a change (its webhook event, a contact's flag, the reply an SMS asks
for) is written by a hook on the change's own connection, so both commit or neither does. What may
only follow the commit (waking the webhook dispatcher) is returned by the hook and run afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Connection

log = logging.getLogger("gsmgw.hooks")
After = Callable[[], None]


def run_in_transaction(hooks: Iterable[Callable[..., After | None]], conn: Connection, *args: Any,
                       afters: list[After] | None = None, savepoint: bool = True) -> list[After]:
    """Call each `hook(conn, *args)`; collect what they return to run after the commit (each once).
    A failing hook fails the change it hears about: its error comes out here and the caller's
    transaction rolls back, so a change never commits without what its hooks write (a status change
    without its webhook event); the caller's own retry (the send path's recovery, the inbound
    pipeline taking the part again) runs the change and its hooks again. On PostgreSQL the hooks run
    in a savepoint: a failed statement aborts the whole transaction there, and the savepoint's
    rollback leaves it usable for a caller that means to go on without what the hook wrote.
    `savepoint=False` where no caller goes on: the send path's group commit rolls the whole
    transaction back when a unit of work fails (two statements saved per status change)."""
    afters = [] if afters is None else afters
    hooks = list(hooks)
    if not hooks:
        return afters
    with _savepoint(conn) if savepoint else nullcontext():
        for hook in hooks:
            after = hook(conn, *args)
            if after is not None and after not in afters:
                afters.append(after)
    return afters


def _savepoint(conn: Connection) -> AbstractContextManager[object]:
    """PostgreSQL only: SQLite goes on after a failed statement. One savepoint for all the hooks of
    a change: two statements per change, where the hooks themselves mostly write nothing."""
    return conn.begin_nested() if conn.dialect.name == "postgresql" else nullcontext()


def run_after_commit(afters: Iterable[After]) -> None:
    for after in afters:
        try:
            after()
        except Exception:
            log.exception("after-commit action %s failed", getattr(after, "__qualname__", after))
