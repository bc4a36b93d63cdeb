"""The database layer's promises on a real SQLite file."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from gateway import contacts, db
from gateway.audience_models import Contact


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
