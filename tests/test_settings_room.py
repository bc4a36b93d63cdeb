"""The settings room on a real database (SQLite, or PostgreSQL in that mode): overrides validated,
stored with who and when, audited, reset to the config's value; the version every write bumps is what
running code follows, including a second reader (another gateway on the same database)."""

from __future__ import annotations

from datetime import time

import pytest

from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection, SimSection
from gateway.outbound.limits import Limits
from gateway.settings import store
from gateway.settings.effective import Effective
from gateway.settings.keys import Invalid, validate
from gateway.store import db
from gateway.users import audit
from modem.session import Identity

SIM = "iccid:8944000000000000001"
HELD = Identity("virtual", "m", "1", "350000000000000", None, "8944000000000000001")
CONFIG = Config(consent=ConsentSection(quiet_hours_start="21:00", quiet_hours_end="08:00", frequency_cap=4),
                sims=[SimSection(iccid="8944000000000000001", limits=Limits(per_minute=10, per_hour=100,
                                                                             per_day=500, per_month=5000))])


@pytest.fixture
def sessions(database):
    return db.sessions(database)


def test_validation_names_each_bad_field():
    with pytest.raises(Invalid) as raised:
        validate({"consent.quiet_hours_start": "25:00", "consent.frequency_cap": "-1",
                  f"sims.{SIM}.per_minute": "20", f"sims.{SIM}.per_hour": "10", "nonsense": "1"})
    assert raised.value.errors == {"consent.quiet_hours_start": ("time", {}), "consent.frequency_cap": ("count", {}),
                                   f"sims.{SIM}.per_hour": ("order", {"n": 20}), "nonsense": ("unknown", {})}
    assert "at least the limit of the shorter window (20)" in str(raised.value)
    # 0 is no cap: it does not take part in the order
    assert validate({f"sims.{SIM}.per_minute": "0", f"sims.{SIM}.per_hour": "5"}) == {
        f"sims.{SIM}.per_minute": 0, f"sims.{SIM}.per_hour": 5}


def test_change_stores_audits_and_bumps_the_version(sessions, clock):
    effective = Effective(CONFIG, sessions)
    before = effective.version()
    assert effective.sim_limits().of(HELD, Limits()).per_minute == 10
    changed = store.change(sessions, clock, CONFIG, {f"sims.{SIM}.per_minute": "3", "consent.quiet_hours_start": "20:00",
                                                     "consent.frequency_cap": "4"}, actor="alice", address="10.0.0.2")
    assert changed == {f"sims.{SIM}.per_minute": 3, "consent.quiet_hours_start": "20:00"}  # the cap was 4 already
    assert effective.version() == before + 1
    assert effective.sim_limits().of(HELD, Limits()) == Limits(
        per_minute=3, per_hour=100, per_day=500, per_month=5000)
    assert effective.rules().quiet_start == time(20, 0) and effective.rules().quiet_end == time(8, 0)
    row = store.overrides(sessions)[f"sims.{SIM}.per_minute"]
    assert (row.value, row.changed_by, row.changed_at) == (3, "alice", clock.now())
    entries = {(e.actor, e.action, e.detail, e.address) for e in audit.recent(sessions)}
    assert ("alice", store.SETTING_CHANGED, f"sims.{SIM}.per_minute = 3", "10.0.0.2") in entries
    # the same values again change nothing and bump nothing
    assert store.change(sessions, clock, CONFIG, {f"sims.{SIM}.per_minute": "3"}, actor="alice") == {}
    assert effective.version() == before + 1


def test_invalid_change_stores_nothing_and_is_checked_against_the_values_in_force(sessions, clock):
    with pytest.raises(Invalid):
        store.change(sessions, clock, CONFIG, {f"sims.{SIM}.per_minute": "3", "consent.quiet_hours_end": "8"}, actor="a")
    with pytest.raises(Invalid) as raised:  # the per-minute limit in force is 10
        store.change(sessions, clock, CONFIG, {f"sims.{SIM}.per_hour": "5"}, actor="a")
    assert raised.value.errors == {f"sims.{SIM}.per_hour": ("order", {"n": 10})}
    with pytest.raises(Invalid) as raised:
        store.change(sessions, clock, CONFIG, {"sims.iccid:999.per_minute": "1"}, actor="a")
    assert raised.value.errors == {"sims.iccid:999.per_minute": ("unknown", {})}
    assert store.overrides(sessions) == {}


def test_reset_goes_back_to_the_config_and_a_second_reader_follows(sessions, clock, database_url):
    other_engine = db.make_engine(database_url)  # another gateway's own connections to the database
    try:
        other = Effective(CONFIG, db.sessions(other_engine))
        store.change(sessions, clock, CONFIG, {"consent.frequency_cap": "1"}, actor="alice")
        assert other.rules().frequency_cap == 1
        assert store.reset(sessions, clock, "consent.frequency_cap", actor="bob") is True
        assert other.rules().frequency_cap == 4
        assert store.reset(sessions, clock, "consent.frequency_cap", actor="bob") is False
        assert audit.recent(sessions)[0].action == store.SETTING_RESET
        assert audit.recent(sessions)[0].actor == "bob"
    finally:
        other_engine.dispose()
