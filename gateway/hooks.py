"""Hooks that run inside the transaction of a change, and what they leave for after its commit.

What must not be lost with a change (its webhook event, a contact's flag, the reply an SMS asks
for) is written by a hook on the change's own connection, so both commit or neither does. What may
only follow the commit (waking the webhook dispatcher) is returned by the hook and run afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection

log = logging.getLogger("gsmgw.hooks")
After = Callable[[], None]


def run_in_transaction(hooks: Iterable[Callable[..., After | None]], conn: Connection, *args: Any,
                       afters: list[After] | None = None) -> list[After]:
    """Call each `hook(conn, *args)`; collect what they return to run after the commit (each once).
    A failing hook is logged and skipped: on SQLite its failed statement was undone, and the change
    it hears about must not be refused because of it."""
    afters = [] if afters is None else afters
    for hook in hooks:
        try:
            after = hook(conn, *args)
        except Exception:
            log.exception("hook %s failed for %r", getattr(hook, "__qualname__", hook), args)
            continue
        if after is not None and after not in afters:
            afters.append(after)
    return afters


def run_after_commit(afters: Iterable[After]) -> None:
    for after in afters:
        try:
            after()
        except Exception:
            log.exception("after-commit action %s failed", getattr(after, "__qualname__", after))
