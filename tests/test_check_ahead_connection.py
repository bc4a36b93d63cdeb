"""The send-time check made while the modem works (`ConsentCheck(claimed)`), on PostgreSQL on a
connection each checking thread keeps (`store.kept_reader`): no pool checkout, so none of the
pool's ping, `BEGIN READ ONLY` and `ROLLBACK` round trips per send; what another connection
committed since (a STOP) is seen at the next check, no transaction is held between checks, a
write there is refused and a dropped connection is replaced. On SQLite each check is a pooled
reader's transaction, as before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from gateway.consent.optin import Audience
from gateway.consent.send_check import ConsentCheck, rules_from
from gateway.core.config import ConsentSection

from .connection_helpers import end_other_connections

CUSTOMER = "+447700900123"
NOON_LONDON = datetime(2027, 1, 15, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def check(queue, clock):
    clock.advance(NOON_LONDON - clock.time())
    made = ConsentCheck(queue.sessions, clock, rules_from(ConsentSection()), default_timezone="Europe/London")
    yield made
    made.close()


def _checkouts(engine) -> list[object]:
    seen: list[object] = []
    event.listen(engine, "checkout", lambda *args: seen.append(args[0]))
    return seen


def test_the_check_ahead_takes_no_pooled_connection_on_postgresql_and_sees_each_commit(database, queue, clock,
                                                                                      check):
    audience = Audience(queue.sessions, clock, queue)
    audience.opt_in(CUSTOMER, source="web_form", detail="form")
    queue.enqueue(CUSTOMER, "Sale!", kind="marketing", source="campaign")
    claimed = queue.claim("sim1")
    checkouts = _checkouts(database)
    verdicts = [check(claimed).action for _ in range(5)]
    by_checks = len(checkouts)
    audience.opt_out(CUSTOMER, source="staff", detail="asked in the shop")  # committed on another connection
    before_last = len(checkouts)
    verdicts.append(check(claimed).action)
    by_checks += len(checkouts) - before_last
    assert verdicts == ["send"] * 5 + ["suppress"]
    assert by_checks == (0 if database.dialect.name == "postgresql" else 6)  # SQLite: a reader's transaction each


def test_the_kept_connection_holds_no_transaction_between_checks(database, queue, clock, check):
    queue.enqueue(CUSTOMER, "Your code is 1234", kind="transactional")
    claimed = queue.claim("sim1")
    assert check(claimed).action == "send"
    with database.begin() as conn:  # a writer that needs the contacts exclusively is not held up
        if database.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(text("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"))
        conn.execute(text("DELETE FROM contacts"))
    assert check(claimed).action == "send"


def test_a_write_on_the_checks_connection_is_refused(database, check):
    def write(conn):
        return conn.execute(text("UPDATE settings_version SET version = version + 1"))

    with pytest.raises(DBAPIError, match="read-only|readonly"):
        check._reader.run(write)
    with database.connect() as conn:
        assert conn.execute(text("SELECT version FROM settings_version")).scalar() == 0


def test_the_check_answers_after_its_kept_connection_was_dropped(database, queue, check):
    queue.enqueue(CUSTOMER, "Your code is 1234", kind="transactional")
    claimed = queue.claim("sim1")
    assert check(claimed).action == "send"
    if database.dialect.name == "postgresql":  # the server ends it, as a restart or an admin would
        ended = end_other_connections(database)
        assert ended >= 1
    assert check(claimed).action == "send"
