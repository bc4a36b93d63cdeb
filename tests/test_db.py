"""The database layer's promises on a real SQLite file."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound

from gateway.audience import contacts
from gateway.audience.models import Contact
from gateway.outbound.models import Message, MessageStatus
from gateway.store import db


def count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Contact))


def test_a_savepoint_does_not_commit_what_the_outer_transaction_rolls_back(database, clock):
    sessions = db.sessions(database)
    with pytest.raises(RuntimeError):
        with sessions.begin() as session:
            contacts.find_or_create(session, "+447700900123", now=clock.now(), source="api")  # SAVEPOINT inside
            raise RuntimeError("the request failed after the contact was made")
    assert count(sessions) == 0


def test_writers_in_threads_take_turns_without_losing_a_write(database, clock):
    sessions = db.sessions(database)

    def add(first: int) -> None:
        for i in range(first, first + 25):
            with sessions.begin() as session:
                contacts.find_or_create(session, f"+4477009{10000 + i:05d}", now=clock.now(), source="api")

    threads = [threading.Thread(target=add, args=(n * 25,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert count(sessions) == 100


@pytest.mark.sqlite_only  # SQLite's writer turn (PostgreSQL: row locks, tests/test_postgresql.py)
def test_what_a_transaction_read_is_still_true_when_it_writes(database, clock):
    with database.begin() as conn:
        message_id = conn.execute(insert(MESSAGES).returning(MESSAGES.c.id), a_message(clock)).scalar_one()

    def one_more(conn) -> None:
        attempts = conn.execute(select(MESSAGES.c.attempts).where(MESSAGES.c.id == message_id)).scalar_one()
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(attempts=attempts + 1))

    def other_writer() -> None:
        with database.begin() as conn:
            one_more(conn)

    other = threading.Thread(target=other_writer)
    with database.begin() as conn:
        attempts = conn.execute(select(MESSAGES.c.attempts).where(MESSAGES.c.id == message_id)).scalar_one()
        other.start()
        other.join(0.5)  # a writer that could go now would (the one below would then lose its write)
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(attempts=attempts + 1))
    other.join(30)
    with database.connect() as conn:
        assert conn.execute(select(MESSAGES.c.attempts).where(MESSAGES.c.id == message_id)).scalar_one() == 2


def test_a_write_inside_a_read_only_transaction_is_refused_and_the_connection_writes_again_after(database, clock):
    """A reader's transaction takes no writer turn (on SQLite it begins deferred), so a write in it
    is refused instead of taking the write lock without the turn; the pooled connection it ran on
    writes as usual in the next writer's transaction."""
    sessions = db.sessions(database)
    with db.read_only(database).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 0
        with pytest.raises(DBAPIError):
            conn.execute(insert(Contact).values(number="+447700900123", source="api", created_at=clock.now(),
                                               updated_at=clock.now()))
    with sessions.begin() as session:
        contacts.find_or_create(session, "+447700900123", now=clock.now(), source="api")
    assert count(sessions) == 1


@pytest.mark.sqlite_only  # SQLite's writer turn
def test_a_second_transaction_in_a_thread_that_holds_one_is_refused_at_once(database):
    with database.begin() as conn, pytest.raises(RuntimeError, match="already holds"):
        with database.begin():
            pass
        conn.execute(select(1))


# ---- Prepared: the send path's statements, compiled once -----------------------------------------
MESSAGES = Message.__table__
NEW_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
BY_ID = select(MESSAGES.c.id, MESSAGES.c.to_number, MESSAGES.c.created_at, MESSAGES.c.expires_at).where(
    MESSAGES.c.id == bindparam("message_id"))
SENT = update(MESSAGES).where(MESSAGES.c.id == bindparam("message_id")).values(
    status=MessageStatus.SENT, sent_at=bindparam("now"))


def a_message(clock, to: str = "+447700900123") -> dict:
    now = clock.now()
    return {"to_number": to, "text": "hi", "kind": "transactional", "priority": 1, "status": MessageStatus.QUEUED,
            "encoding": "gsm7", "segments": 1, "attempts": 0, "created_at": now, "not_before": now,
            "updated_at": now, "source": "test"}


def test_a_prepared_statement_reads_and_writes_what_connection_execute_does(database, clock):
    with database.connect() as conn:  # the first statement on this connection is a prepared one
        message_id = db.Prepared(NEW_MESSAGE)(conn, a_message(clock)).scalar_one()
        changed = db.Prepared(SENT)(conn, {"message_id": message_id, "now": clock.now()}).rowcount
        conn.commit()  # commits what the prepared statements did: they ran in this transaction
    assert changed == 1
    with database.connect() as conn:
        prepared = db.Prepared(BY_ID)(conn, {"message_id": message_id}).one()
        core = conn.execute(BY_ID, {"message_id": message_id}).one()
        status = conn.scalar(select(MESSAGES.c.status).where(MESSAGES.c.id == message_id))
    assert tuple(prepared) == tuple(core)
    assert prepared.created_at == clock.now() and prepared.created_at.tzinfo is not None  # result types applied
    assert prepared.expires_at is None
    assert status == MessageStatus.SENT  # the value written into the statement itself went in


def test_prepared_statements_roll_back_with_their_transaction_and_run_many_rows_at_once(database, clock):
    insert_many = db.Prepared(insert(MESSAGES))
    with database.connect() as conn:
        insert_many(conn, [a_message(clock, f"+4477009001{i:02d}") for i in range(3)])
        assert conn.scalar(select(func.count()).select_from(MESSAGES)) == 3
        conn.rollback()
        assert conn.scalar(select(func.count()).select_from(MESSAGES)) == 0


def test_a_prepared_statement_fails_as_sqlalchemy_does_and_refuses_an_in_list(database, clock):
    with database.connect() as conn:
        message_id = db.Prepared(NEW_MESSAGE)(conn, a_message(clock)).scalar_one()
        with pytest.raises(IntegrityError):  # the group commit tells failures apart by these classes
            db.Prepared(insert(MESSAGES))(conn, {**a_message(clock), "id": message_id})
        conn.rollback()
        with pytest.raises(ValueError, match="IN list"):
            db.Prepared(select(MESSAGES.c.id).where(MESSAGES.c.status.in_(["queued", "sent"])))(conn)
        with pytest.raises(NoResultFound):
            db.Prepared(BY_ID)(conn, {"message_id": message_id}).one()


def test_a_prepared_statement_refuses_what_it_would_get_wrong(database, clock):
    """Column defaults and RETURNING over a list of rows need SQLAlchemy's execution context:
    refused, rather than a NULL stored or rows lost."""
    with database.connect() as conn:
        without_kind = {k: v for k, v in a_message(clock).items() if k != "kind"}
        with pytest.raises(ValueError, match="kind"):
            db.Prepared(NEW_MESSAGE)(conn, without_kind)
        with pytest.raises(ValueError, match="list"):
            db.Prepared(NEW_MESSAGE)(conn, [a_message(clock), a_message(clock)])
        db.Prepared(insert(MESSAGES))(conn, [a_message(clock), a_message(clock)])
        with pytest.raises(MultipleResultsFound):
            db.Prepared(select(MESSAGES.c.id))(conn).one()
