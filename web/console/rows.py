"""One stored row for a page, by its id: a page about a row that is not there is a 404, and the row
comes back detached so the template can read it after its session has closed."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from sqlalchemy.orm import sessionmaker

Row = TypeVar("Row")


def or_404(found: Row | None) -> Row:
    """What a page is about, or a 404 when it is not there."""
    if found is None:
        abort(404)
    return found


def row_or_404(sessions: sessionmaker, model: type[Row], key: Any) -> Row:
    with sessions() as session:
        row = or_404(session.get(model, key))
        session.expunge(row)
        return row
