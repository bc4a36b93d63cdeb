"""The real daemon on one virtual modem with no sending rules in its file: no limits for the modem nor
for its SIM in [[sims]], no quiet hours, no frequency cap. The start of the tests that change a rule
the way the console does and watch who follows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.daemon import Daemon

from .daemon_helpers import build_daemon
from .modem_helpers import wait_settled

NO_LIMITS = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}
NO_RULES = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00", "frequency_cap": 0}


@pytest.fixture
def rule_free_daemon(tmp_path, clock, sim) -> Iterator[tuple[Daemon, str]]:
    """The daemon on `sim`'s first port ("till"), started and its modem settled, with its SIM's ICCID;
    stopped when the test ends."""
    modem = sim.ports["sim1"]
    daemon = build_daemon(
        tmp_path, clock, 0,
        modems=[{"name": "till", "port": modem.path, "limits": NO_LIMITS, "command_timeout_s": 1.0,
                 "send_timeout_s": 5.0, "check_interval_s": 0.5, "registration_timeout_s": 5.0}],
        sims=[{"iccid": modem.modem.iccid, "limits": NO_LIMITS}], consent=NO_RULES)
    daemon.start()
    try:
        assert daemon.wait_ready(15), daemon.status_line()
        wait_settled(daemon.supervisors[0], modem.modem)
        yield daemon, modem.modem.iccid
    finally:
        daemon.stop()
