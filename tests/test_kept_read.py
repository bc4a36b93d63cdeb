"""The settings' version, read before every send, on a connection kept for it (`db.KeptRead`): no
pool checkout per read (on PostgreSQL that was four round trips between the modem's answer and the
next AT+CMGS), what another connection committed seen at the next read, a dropped connection
replaced, on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event, select, text, update

from gateway.core.config import Config
from gateway.settings import store
from gateway.settings.effective import Effective
from gateway.settings.models import SettingsVersion
from gateway.store import db

from .connection_helpers import end_other_connections

VERSION = select(SettingsVersion.version).where(SettingsVersion.id == 1)


def _checkouts(engine) -> list[object]:
    seen: list[object] = []
    event.listen(engine, "checkout", lambda *args: seen.append(args[0]))
    return seen


def test_the_version_read_before_each_send_checks_out_no_pooled_connection(database, clock):
    sessions = db.sessions(database)
    effective = Effective(Config(), sessions)
    try:
        first = effective.version()
        checkouts = _checkouts(database)
        for _ in range(20):  # a worker's waits, the send-time check and its recheck, for a few sends
            assert effective.version() == first
            effective.rules()
        assert checkouts == []
        # a change still reaches the next read: the values are read with their version then
        store.change(sessions, clock, Config(), {"consent.frequency_cap": "2"}, actor="alice")
        assert effective.version() == first + 1
        assert effective.consent().frequency_cap == 2
    finally:
        effective.close()


def test_a_kept_read_sees_each_commit_made_on_another_connection(database):
    kept = db.KeptRead(database, VERSION)
    try:
        assert kept().scalar() == 0  # as the migration left it
        with database.begin() as conn:
            conn.execute(update(SettingsVersion).values(version=7))
        assert kept().scalar() == 7
        with database.begin() as conn:
            conn.execute(update(SettingsVersion).values(version=SettingsVersion.version + 1))
        assert kept().scalar() == 8
        # it holds no transaction between reads: a writer that needs the row exclusively is not held up
        with database.begin() as conn:
            if database.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(text("LOCK TABLE settings_version IN ACCESS EXCLUSIVE MODE"))
            conn.execute(update(SettingsVersion).values(version=9))
        assert kept().scalar() == 9
    finally:
        kept.close()


def test_a_kept_read_answers_after_its_connection_was_dropped(database):
    with database.begin() as conn:
        conn.execute(update(SettingsVersion).values(version=3))
    kept = db.KeptRead(database, VERSION)
    try:
        assert kept().scalar() == 3
        if database.dialect.name == "postgresql":  # the server ends it, as a restart or an admin would
            ended = end_other_connections(database)
            assert ended >= 1
        else:  # SQLite has no server: its connection is closed under the thread that reads on it
            kept.close()
        assert kept().scalar() == 3
    finally:
        kept.close()
