"""The order in which the claim reads due messages: by priority, then the one due longest.

Each priority is read on its own seek of `ix_messages_claim` (status, priority, not_before, id), so
only messages already due are read: a backlog waiting for a later time (marketing deferred by quiet
hours, retries in backoff) costs the claim nothing, however large it grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam, select, union_all

from gateway.outbound.models import Priority

PRIORITIES = tuple(sorted(Priority.NAME))


def due_candidates(messages: Table, columns: Sequence[Any], due: Sequence[Any]) -> Select[Any]:
    """`columns` (which include priority, not_before and id) of the first `:limit` messages
    matching `due`, most urgent first."""
    m = messages.c
    # PostgreSQL: a message another gateway's claim holds is passed over, not waited for (the lock
    # sits in each arm: a UNION takes none); SQLite has one writer and renders no FOR UPDATE
    arms = [select(*columns).where(*due, m.priority == priority)
            .order_by(m.not_before, m.id).limit(bindparam("limit"))
            .with_for_update(skip_locked=True, of=messages).subquery(f"p{priority}")
            for priority in PRIORITIES]
    together = union_all(*(select(arm) for arm in arms)).subquery("due")
    return (select(together).order_by(together.c.priority, together.c.not_before, together.c.id)
            .limit(bindparam("limit")))

