"""The database layer's promises on a real SQLite file."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select, update

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


MESSAGES = Message.__table__


def a_message(clock, to: str = "+447700900123") -> dict:
    now = clock.now()
    return {"to_number": to, "text": "hi", "kind": "transactional", "priority": 1, "status": MessageStatus.QUEUED,
            "encoding": "gsm7", "segments": 1, "attempts": 0, "created_at": now, "not_before": now,
            "updated_at": now, "source": "test"}


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


def test_a_second_transaction_in_a_thread_that_holds_one_is_refused_at_once(database):
    with database.begin() as conn, pytest.raises(RuntimeError, match="already holds"):
        with database.begin():
            pass
        conn.execute(select(1))


