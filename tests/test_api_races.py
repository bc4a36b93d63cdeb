"""Two requests creating the same thing at the same moment, on PostgreSQL (whatever the suite's mode):
the handler's check cannot see the other's uncommitted row, so the unique constraint decides, and the
loser gets the 409 the check gives, never a 500. Deterministic: the test holds the other transaction
open until the request is seen waiting on its lock."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, text

from gateway.audience.models import Group

from .modem_helpers import wait_until


@pytest.fixture
def database_url(postgres):
    url = postgres.create()
    yield url
    postgres.drop(url)


def waiting_on_a_lock(database) -> bool:
    with database.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def test_a_group_created_twice_at_once_is_one_group_and_a_409(database, client, make_key, clock):
    key = make_key("contacts,read")
    answers: list = []
    with database.connect() as other:
        other.execute(insert(Group).values(name="vip", created_at=clock.now()))  # not committed yet
        request = threading.Thread(target=lambda: answers.append(
            client.post("/api/v1/groups", json={"name": "vip"}, headers=key.headers)))
        request.start()
        wait_until(lambda: waiting_on_a_lock(database), timeout=20)  # its INSERT waits on the other's row
        other.commit()
    request.join(20)
    assert not request.is_alive()
    answer = answers[0]
    assert answer.status_code == 409, answer.get_data(as_text=True)
    assert answer.json["detail"] == "a group with this name exists"
    listed = client.get("/api/v1/groups", headers=key.headers).json
    assert [g["name"] for g in listed["items"]] == ["vip"]
