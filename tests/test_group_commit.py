"""Group commit on a real SQLite file: callers that arrive while a commit is in flight share the next
one, each gets its own result, and one failing unit of work costs only its own caller."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gateway.store import db
from gateway.store.group_commit import GroupCommit


@pytest.fixture
def group(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/g.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v TEXT PRIMARY KEY)"))
    yield GroupCommit(engine)
    engine.dispose()


def insert(value: str, fail: bool = False):
    def work(conn: Connection) -> str:
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        if fail:
            raise ValueError(f"{value} is bad")
        return f"stored {value}"
    return work


def stored(group: GroupCommit) -> set[str]:
    with group._engine.connect() as conn:
        return set(conn.scalars(text("SELECT v FROM t")))


def run_behind_a_held_batch(group: GroupCommit, calls: dict[str, object]) -> dict[str, object]:
    """Hold a first batch open until every call in `calls` is waiting; return what each call got."""
    release = threading.Event()

    def held(conn: Connection) -> str:
        conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
        release.wait(10)
        return "first"

    results: dict[str, object] = {}

    def call(name: str, work) -> None:
        try:
            results[name] = group.run(work)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            results[name] = exc

    first = threading.Thread(target=call, args=("first", held))
    first.start()
    while not group._leader.locked():
        time.sleep(0.001)
    threads = [threading.Thread(target=call, args=(name, work)) for name, work in calls.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(group._pending) < len(calls) and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    return results


def test_callers_waiting_behind_a_commit_share_the_next_one(group: GroupCommit) -> None:
    results = run_behind_a_held_batch(group, {name: insert(name) for name in ("a", "b", "c")})
    assert results == {"first": "first", "a": "stored a", "b": "stored b", "c": "stored c"}
    assert group.batches == 2 and group.works == 4  # the first alone, then a, b and c in one commit
    assert stored(group) == {"first", "a", "b", "c"}


def test_a_failing_unit_of_work_fails_only_its_own_caller(group: GroupCommit) -> None:
    results = run_behind_a_held_batch(group, {"a": insert("a"), "b": insert("b", fail=True), "c": insert("c")})
    assert isinstance(results["b"], ValueError) and str(results["b"]) == "b is bad"
    assert results["a"] == "stored a" and results["c"] == "stored c"
    assert stored(group) == {"first", "a", "c"}  # b rolled back; a and c committed on their own


def test_a_unit_that_breaks_a_constraint_does_not_lose_the_others(group: GroupCommit) -> None:
    group.run(insert("a"))
    results = run_behind_a_held_batch(group, {"dup": insert("a"), "b": insert("b")})
    assert "UNIQUE" in str(results["dup"])
    assert results["b"] == "stored b"
    assert stored(group) == {"first", "a", "b"}


def test_closing_returns_the_kept_connection_and_does_not_wait_on_a_stuck_batch(group):
    assert group.run(insert("a")) == "stored a"
    kept = group._conn
    assert kept is not None and not kept.closed  # kept between batches
    group.close()
    assert group._conn is None and kept.closed
    assert group.run(insert("b")) == "stored b"  # a new one is taken when needed

    entered, release = threading.Event(), threading.Event()
    stuck = threading.Thread(target=group.run, args=(lambda conn: entered.set() or release.wait(10),))
    stuck.start()
    assert entered.wait(10)
    started = time.monotonic()
    group.close(timeout=0.2)
    assert time.monotonic() - started < 5.0  # not held up by the stuck writer (10 s), on a busy machine too
    release.set()
    stuck.join(5)
    assert stored(group) == {"a", "b"}
