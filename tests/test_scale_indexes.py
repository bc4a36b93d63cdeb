"""The claim and the message list read through indexes (EXPLAIN QUERY PLAN on a real SQLite file):
a backlog waiting for a later time is never scanned, and list pages are index seeks, not sorts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from gateway.outbound import transitions
from web.api.paging import encode_cursor

pytestmark = pytest.mark.sqlite_only  # SQLite's query plans (EXPLAIN QUERY PLAN)


def plan(engine, sql: str, params) -> str:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
    return "\n".join(row[-1] for row in rows)


@contextmanager
def statements_run(engine, *fragments: str) -> Iterator[list[tuple[str, tuple]]]:
    """The statements (with their parameters) run on `engine` inside the block that contain every fragment."""
    statements: list[tuple[str, tuple]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if all(fragment in statement for fragment in fragments):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def candidates_sql(engine) -> str:
    with engine.connect() as conn:
        return str(transitions.SQL["candidates"].statement.compile(dialect=conn.dialect))


def test_the_claim_seeks_the_due_messages_of_each_priority(database):
    found = plan(database, candidates_sql(database).replace("?", "NULL"), ())  # the plan is the same for any values
    searches = [line for line in found.splitlines() if "messages USING" in line or "SCAN messages" in line]
    assert searches == ["SEARCH messages USING INDEX ix_messages_claim (status=? AND priority=? AND not_before<?)"] * 3, found


def test_a_deferred_backlog_is_not_read_by_the_claim(queue, database, clock):
    """5,200 messages deferred to the morning; the claim takes the due one behind them and reads
    only the rows it returns."""
    later = clock.now() + timedelta(hours=10)
    deferred = [queue.enqueue("+447700900123", f"offer {i}", kind="marketing").id for i in range(200)]
    with database.begin() as conn:
        conn.execute(text("UPDATE messages SET not_before = :later"), {"later": later})
    with database.begin() as conn:  # the backlog grown cheaply: copies of a deferred row
        for _ in range(25):
            conn.execute(text("INSERT INTO messages (to_number, text, kind, priority, status, encoding, segments, "
                              "source, attempts, created_at, not_before, updated_at) SELECT to_number, text, kind, "
                              "priority, status, encoding, segments, source, attempts, created_at, not_before, "
                              "updated_at FROM messages WHERE id <= :n"), {"n": deferred[-1]})
    due = queue.enqueue("+447700900124", "your receipt").id
    steps: list[int] = []
    with database.begin() as conn:
        sqlite = conn.connection.driver_connection
        sqlite.set_progress_handler(lambda: steps.append(1), 100)  # called every 100 VM instructions
        rows = transitions.SQL["candidates"](conn, {"now": clock.now(), "modem": "sim1", "limit": 1}).all()
        sqlite.set_progress_handler(None, 100)
    assert [r.id for r in rows] == [due]
    assert len(steps) < 20, f"{len(steps) * 100} VM steps: the deferred rows were read"


@pytest.mark.parametrize("query", ["status=queued", "sim=sim1", "kind=marketing",
                                   "status=queued&sim=sim1&kind=marketing"])
def test_message_list_filters_page_on_an_index(client, make_key, database, query):
    with statements_run(database, "FROM messages", "ORDER BY messages.id DESC") as statements:
        reply = client.get(f"/api/v1/messages?{query}&limit=10&cursor=" + _cursor(1000), headers=make_key().headers)
    assert reply.status_code == 200, reply.json
    (statement, parameters), = statements
    found = plan(database, statement, parameters)
    assert "USING INDEX ix_messages_" in found and "TEMP B-TREE" not in found, found


def _cursor(before_id: int) -> str:
    return encode_cursor(before_id)



def test_the_open_counts_read_the_status_index_only(queue, database):
    """systemd's STATUS, the scrape and the dashboard count what is not final on every update:
    on (status, id), never a scan of the finished messages."""
    with statements_run(database, "count(", "FROM messages") as statements:
        queue.open_counts()
    (statement, parameters), = statements
    found = plan(database, statement, parameters)
    assert "USING COVERING INDEX ix_messages_" in found and "SCAN messages" not in found, found


def test_the_frequency_caps_count_at_each_marketing_send_seeks_the_numbers_messages(queue, database, clock):
    """The send-time check counts a number's marketing messages in the cap window before every
    marketing send: on the number's own rows, never on every marketing message (160 ms a send with
    1,000,000 messages stored when SQLite chose the kind's index)."""
    from gateway.consent.rules import Rules
    from gateway.consent.send_check import ConsentCheck

    check = ConsentCheck(queue.sessions, clock, Rules(quiet_start=None, quiet_end=None, frequency_cap=4))
    with statements_run(database, "count(DISTINCT", "FROM messages") as statements:
        check.before_queueing("+447700900123", "marketing", "api")
    (statement, parameters), = statements
    found = plan(database, statement, parameters)
    assert "INDEX ix_messages_number_kind (to_number=? AND kind=?)" in found, found
