"""A page about one stored row: the row, detached so it reads after its session closed, or a 404."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound

from gateway.consent import keyword_store
from gateway.consent.models import Keyword
from web.console.rows import row_or_404

from .console_helpers import admin, admin_client  # noqa: F401  (fixtures)


def test_a_stored_row_comes_back_readable_after_its_session(web_context):
    with web_context.sessions.begin() as session:
        made = keyword_store.add(session, "OFFERS", "reply", now=web_context.clock.now(), reply="10% off")
        session.flush()
        key, label = made.id, made.label
    row = row_or_404(web_context.sessions, Keyword, key)
    assert (row.id, row.label) == (key, label)


def test_a_row_that_is_not_there_is_a_404(web_context):
    with pytest.raises(NotFound):
        row_or_404(web_context.sessions, Keyword, 999_999)


def test_the_keyword_pages_of_no_keyword_are_404(admin_client):
    assert admin_client.get("/settings/keywords/999999").status_code == 404
    assert admin_client.get("/settings/keywords/999999/delete").status_code == 404
