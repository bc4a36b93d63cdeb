"""The order in which the claim reads due messages: by priority, then the one due longest.

Each priority is read on its own seek of `ix_messages_claim` (status, priority, not_before, id), so
only messages already due are read: a backlog waiting for a later time (marketing deferred by quiet
hours, retries in backoff) costs the claim nothing, however large it grows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam, select, union_all

from gateway.outbound.models import Priority

PRIORITIES = tuple(sorted(Priority.NAME))


def due_candidates(messages: Table, columns: Sequence[Any], due: Sequence[Any],
                   about_each: Callable[[Any], Sequence[Any]] = lambda _: ()) -> Select[Any]:
    """`columns` (which include priority, not_before and id) of the first `:limit` messages
    matching `due`, most urgent first, and `about_each(due.c)`: columns worked out from the
    candidates' own (correlated subqueries), written once for the candidates rather than once per
    priority. That keeps the statement short enough for psycopg's cache of parsed queries (4,096
    bytes), which parses a longer one again on every claim."""
    m = messages.c
    # PostgreSQL: a message another gateway's claim holds is passed over, not waited for (the lock
    # sits in each arm: a UNION takes none); SQLite has one writer and renders no FOR UPDATE
    arms = [select(*columns).where(*due, m.priority == priority)
            .order_by(m.not_before, m.id).limit(bindparam("limit"))
            .with_for_update(skip_locked=True, of=messages).subquery(f"p{priority}")
            for priority in PRIORITIES]
    together = union_all(*(select(arm) for arm in arms)).subquery("due")
    return (select(together, *about_each(together.c))
            .order_by(together.c.priority, together.c.not_before, together.c.id)
            .limit(bindparam("limit")))
