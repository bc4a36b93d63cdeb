"""Shared fixtures: a real SQLite file per test, a clock the test moves by hand."""

from __future__ import annotations

import pytest

from gateway import db
from gateway.clock import FakeClock
from gateway.queue import Queue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gsmgw.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def queue(database, clock) -> Queue:
    return Queue(db.sessions(database), clock, default_region="GB")
