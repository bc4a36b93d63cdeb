"""The users room: accounts with argon2 hashes, the one-time setup code, the throttle, the audit log,
and `gsmgw user add|passwd` reading the password from stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.store import db
from gateway.users import accounts, audit, setup
from gateway.users.models import SetupCode, User
from gateway.users.throttle import Throttle

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


@pytest.fixture
def sessions(database):
    return db.sessions(database)


def test_a_user_is_stored_with_an_argon2_hash_and_signs_in_with_that_password_only(sessions, clock):
    account = accounts.add(sessions, clock, "anna", PASSWORD, "admin")
    with sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "anna"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate(sessions, "anna", PASSWORD) == account
    assert accounts.authenticate(sessions, "anna", PASSWORD + "x") is None
    assert accounts.authenticate(sessions, "nobody", PASSWORD) is None


@pytest.mark.parametrize("name, password, role, says", [
    ("", PASSWORD, "staff", "user name"),
    ("two words", PASSWORD, "staff", "user name"),
    ("anna", "short", "staff", "at least 10"),
    ("anna", PASSWORD, "owner", "role must be"),
])
def test_bad_input_is_refused_with_a_reason_and_adds_nobody(sessions, clock, name, password, role, says):
    with pytest.raises(accounts.UserError, match=says):
        accounts.add(sessions, clock, name, password, role)
    assert not accounts.any_user(sessions)


def test_a_name_is_taken_once(sessions, clock):
    accounts.add(sessions, clock, "anna", PASSWORD, "admin")
    with pytest.raises(accounts.UserError, match="exists already"):
        accounts.add(sessions, clock, "anna", PASSWORD, "staff")


def test_a_new_password_changes_the_session_key_so_old_sessions_end(sessions, clock):
    before = accounts.add(sessions, clock, "anna", PASSWORD, "staff")
    after = accounts.set_password(sessions, clock, "anna", "another good one")
    assert after.session_key != before.session_key
    assert accounts.authenticate(sessions, "anna", PASSWORD) is None
    assert accounts.authenticate(sessions, "anna", "another good one") == after
    with pytest.raises(accounts.UserError, match="no user"):
        accounts.set_password(sessions, clock, "bob", "another good one")


def test_the_setup_code_is_kept_as_a_hash_makes_one_admin_and_is_gone_after(sessions, clock):
    code = setup.issue(sessions, clock)
    with sessions() as session:
        hashes = session.scalars(select(SetupCode.code_hash)).all()
    assert len(hashes) == 1 and setup.normalise(code) not in hashes[0]
    with pytest.raises(accounts.UserError, match="not the setup code"):
        accounts.create_first_admin(sessions, clock, "WRONG-CODE1", "anna", PASSWORD)
    assert not accounts.any_user(sessions)
    admin = accounts.create_first_admin(sessions, clock, code.lower().replace("-", " "), "anna", PASSWORD)
    assert admin.role == "admin"
    with sessions() as session:
        assert session.scalars(select(SetupCode)).all() == []
    with pytest.raises(accounts.UserError, match="set up already"):
        accounts.create_first_admin(sessions, clock, code, "eve", PASSWORD)
    assert setup.issue(sessions, clock) is None  # a user exists: no code at the next start


def test_a_new_start_replaces_the_code_and_a_user_added_otherwise_drops_it(sessions, clock):
    first, second = setup.issue(sessions, clock), setup.issue(sessions, clock)
    with pytest.raises(accounts.UserError):
        accounts.create_first_admin(sessions, clock, first, "anna", PASSWORD)
    accounts.add(sessions, clock, "anna", PASSWORD, "admin")
    with pytest.raises(accounts.UserError, match="set up already"):
        accounts.create_first_admin(sessions, clock, second, "eve", PASSWORD)
    with sessions() as session:
        assert session.scalars(select(SetupCode)).all() == []


def test_the_audit_log_records_in_the_callers_transaction_newest_first(sessions, clock):
    accounts.add(sessions, clock, "anna", PASSWORD, "admin")
    clock.advance(60)
    with sessions.begin() as session:
        audit.record(session, clock, audit.LOGIN, actor="anna", address="10.0.0.7")
    try:
        with sessions.begin() as session:
            audit.record(session, clock, audit.LOGOUT, actor="anna")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    entries = audit.recent(sessions)
    assert [(e.action, e.actor, e.address) for e in entries] == [
        ("login", "anna", "10.0.0.7"), ("user_added", "anna", None)]
    assert entries[0].at == clock.now()


@pytest.mark.parametrize("failures, at, wait", [
    (2, 10.0, 0.0),  # under the limit
    (3, 10.0, 90.0),  # the third failure at t=0 ages out at 100
    (3, 100.0, 0.0),  # the window has passed
])
def test_the_throttle_waits_until_the_oldest_failure_leaves_the_window(failures, at, wait):
    throttle = Throttle(limit=3, window_s=100)
    for _ in range(failures):
        throttle.failed("10.0.0.7", 0.0)
    assert throttle.wait_s("10.0.0.7", at) == pytest.approx(wait)
    assert throttle.wait_s("10.0.0.8", at) == 0.0
    throttle.succeeded("10.0.0.7")
    assert throttle.wait_s("10.0.0.7", at) == 0.0


def _cli(tmp_path, *args: str, stdin: str) -> subprocess.CompletedProcess:
    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    return subprocess.run([sys.executable, "-m", "gateway.cli", "user", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.sqlite_only  # reads the SQLite file the CLI wrote
def test_gsmgw_user_add_and_passwd_read_the_password_from_stdin(tmp_path):
    added = _cli(tmp_path, "add", "anna", "--role", "staff", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "anna (staff)" in added.stdout
    again = _cli(tmp_path, "add", "anna", "--role", "admin", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    short = _cli(tmp_path, "passwd", "anna", stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    changed = _cli(tmp_path, "passwd", "anna", stdin="a different password\n")
    assert changed.returncode == 0, changed.stderr
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gsmgw.db'}")
    try:
        sessions = db.sessions(engine)
        assert accounts.authenticate(sessions, "anna", "a different password") is not None
        assert accounts.authenticate(sessions, "anna", PASSWORD) is None
        assert [e.action for e in audit.recent(sessions)] == ["password_changed", "user_added"]
    finally:
        engine.dispose()
