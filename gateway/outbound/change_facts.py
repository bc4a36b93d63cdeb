"""What a status change knows of its message already, for the status hooks that would read it.

The send path's `submitting` commit runs between the modem's answer and the next PDU, and on
PostgreSQL every statement in it is a round trip. The answered message's `sent` statement returns
its SIM, whether it has a callback URL and whether its recipient's contact is flagged `unreachable`;
the queue opens a scope around a unit of work and its hooks, and a hook asks here before it reads
(the metrics hook the SIM, the webhook hook the callback, the contact health hook the flag).
Outside a scope, or for a message the change did not learn about, nothing is known and hooks read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Known:
    sim: str | None
    has_callback: bool
    recipient_unreachable: bool


_scope: ContextVar[dict[int, Known] | None] = ContextVar("gsmgw_change_facts", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """Facts learnt inside hold until the scope ends (one unit of work and its hooks)."""
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def learn(message_id: int, row: Any) -> None:
    """What `row` (a statement's returned `sim`, `has_callback` and `recipient_unreachable`) says of
    the message."""
    facts = _scope.get()
    if facts is not None:
        facts[message_id] = Known(row.sim, bool(row.has_callback), bool(row.recipient_unreachable))


def known(message_id: int) -> Known | None:
    facts = _scope.get()
    return None if facts is None else facts.get(message_id)
