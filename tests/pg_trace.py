"""A fresh PostgreSQL database for a test whatever the suite's mode, and what libpq sent and
received on a connection while something ran (the send path's round trips, counted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq as psycopg_pq

from gateway.store import db


@pytest.fixture
def pg(postgres):
    """An engine on a fresh PostgreSQL database at the newest schema, whatever the suite's mode."""
    url = postgres.create()
    engine = db.make_engine(url)
    yield engine
    engine.dispose()
    postgres.drop(url)


def traced(conn: Any, tmp_path: Path, action: Callable[[], object]) -> list[str]:
    """The protocol messages libpq sent and received on `conn` while `action()` ran."""
    trace = tmp_path / "libpq.trace"
    pgconn = conn.connection.driver_connection.pgconn
    with open(trace, "w") as f:
        pgconn.trace(f.fileno())
        pgconn.set_trace_flags(psycopg_pq.Trace.SUPPRESS_TIMESTAMPS | psycopg_pq.Trace.REGRESS_MODE)
        try:
            action()
        finally:
            pgconn.untrace()
    return trace.read_text().splitlines()


def statements(lines: list[str]) -> list[str]:
    """The statements in a trace, one per round trip: an extended-protocol statement ends in a
    Sync (its Parse names it, empty when it was prepared before), a simple one is a Query."""
    found, parsed = [], ""
    for fields in (line.split("\t") for line in lines if line.startswith("F\t")):
        if fields[2] == "Parse":
            parsed = fields[-2] if len(fields) > 4 else fields[-1]
        elif fields[2] == "Sync":
            found.append(parsed)
            parsed = ""
        elif fields[2] == "Query":
            found.append(fields[3])
    return found
