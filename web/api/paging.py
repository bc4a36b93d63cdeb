"""Newest-first pages with opaque cursors (`limit`, `cursor`), the same for every list."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from web.api.operations import Call
from web.api.problems import invalid
from web.api.schemas import MAX_ID

def paginate(call: Call, query: Any, id_column: Any,
             to_dict: Callable[[Session, Any], dict[str, Any]]) -> tuple[int, Any]:
    """Run a newest-first list query one page at a time (`limit`, `cursor` from the query string)."""
    limit = call.query["limit"]
    query = query.order_by(id_column.desc()).limit(limit + 1)
    before = decode_cursor(call.query.get("cursor"))
    if before is not None:
        query = query.where(id_column < before)
    with call.ctx.sessions() as session:
        rows = session.scalars(query).all()
        page, more = rows[:limit], len(rows) > limit
        items = [to_dict(session, row) for row in page]
    return 200, {"items": items, "next_cursor": encode_cursor(page[-1].id) if more else None}


def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        kind, _, number = raw.partition(":")
        value = int(number)
        if kind != "before" or not 1 <= value <= MAX_ID:
            raise ValueError
        return value
    except ValueError:
        raise invalid("cursor", "is not a cursor this API gave out") from None
