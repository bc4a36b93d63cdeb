"""`db.Prepared` on one connection: statements one after another give each their own rows and
counts, a failed statement leaves the next one working, and on PostgreSQL a connection the server
ended is reported invalidated and replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from gateway.settings.models import SettingsVersion
from gateway.store import db

from .connection_helpers import end_other_connections

READ = db.Prepared(select(SettingsVersion.version).where(SettingsVersion.id == bindparam("row")))
ADD = db.Prepared(insert(SettingsVersion))
BUMP = db.Prepared(update(SettingsVersion).where(SettingsVersion.id == bindparam("row"))
                   .values(version=SettingsVersion.version + bindparam("by")))


def test_statements_one_after_another_give_each_their_own_rows_and_counts(database):
    with database.connect() as conn:
        for step in range(1, 6):
            assert BUMP(conn, {"row": 1, "by": step}).rowcount == 1
            assert READ(conn, {"row": 1}).scalar_one() == sum(range(1, step + 1))
            assert BUMP(conn, {"row": 2, "by": 1}).rowcount == 0  # no such row
            assert READ(conn, {"row": 2}).first() is None
        conn.commit()
    with database.connect() as conn:  # the pool's next checkout of the same connection
        assert READ(conn, {"row": 1}).scalar_one() == 15


def test_a_failed_statement_leaves_the_next_one_working(database):
    with database.connect() as conn:
        with pytest.raises(DBAPIError):
            ADD(conn, {"id": 1, "version": 5})  # the row is there
        conn.rollback()
        assert BUMP(conn, {"row": 1, "by": 2}).rowcount == 1
        assert READ(conn, {"row": 1}).scalar_one() == 2


def test_a_connection_the_server_ended_is_replaced(database):
    with database.connect() as conn:
        assert READ(conn, {"row": 1}).scalar_one() == 0
        if database.dialect.name == "postgresql":  # the server ends it, as a restart or an admin would
            ended = end_other_connections(database)
            assert ended >= 1
            with pytest.raises(DBAPIError) as failed:
                READ(conn, {"row": 1})
            assert failed.value.connection_invalidated
        else:  # SQLite has no server: its connection is invalidated under the statement
            conn.invalidate()
        conn.rollback()
        assert READ(conn, {"row": 1}).scalar_one() == 0


def test_the_claim_stays_within_what_psycopg_keeps_parsed():
    """psycopg parses a statement over 4,096 bytes again on every run; the claim runs before every
    message, and it had grown to 4,414 bytes with its routing columns written once per priority."""
    from psycopg import _queries
    from sqlalchemy.dialects.postgresql.psycopg import dialect

    from gateway.outbound.transitions import SQL

    assert (db.PSYCOPG_PARSED_CACHE_BYTES, db.PSYCOPG_PARSED_CACHE_PARAMS) == (
        _queries.MAX_CACHED_STATEMENT_LENGTH, _queries.MAX_CACHED_STATEMENT_PARAMS)
    compiled = db._Compiled(SQL["candidates"].statement, dialect(), ("now", "modem", "limit"))
    assert len(compiled.sql.encode()) <= db.PSYCOPG_PARSED_CACHE_BYTES
    assert "FOR UPDATE OF messages SKIP LOCKED" in compiled.sql


def test_a_statement_psycopg_would_parse_on_every_run_is_refused():
    from sqlalchemy import literal, or_
    from sqlalchemy.dialects.postgresql.psycopg import dialect

    long = select(SettingsVersion.version).where(
        or_(*(SettingsVersion.id == literal(n, literal_execute=False) for n in range(60))))
    with pytest.raises(ValueError, match="parse this statement again on every run"):
        db._Compiled(long, dialect(), ())
    db._Compiled(READ.statement, dialect(), ("row",))  # a short one is kept
