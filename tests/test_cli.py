"""Technician commands as a technician runs them: real processes, virtual modems on ptys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .daemon_helpers import database_url
from .process_helpers import ROOT, gsmgw

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def sim_options() -> dict:
    return {"profile": "ec25"}


def test_modem_info(sim):
    result = gsmgw("modem", "info", "--port", sim.ports["sim1"].path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["identity"]["manufacturer"] == "Quectel"
    assert info["identity"]["imsi"] == sim.ports["sim1"].modem.imsi
    assert info["health"]["registration"] == "home"


def test_modem_send_prints_references_and_report(sim):
    result = gsmgw("modem", "send", "--port", sim.ports["sim1"].path, "+447700900123", "Ciao 👋 " * 20,
                   "--report-timeout", "10")
    assert result.returncode == 0, result.stderr
    references = [r["mr"] for r in sim.network.record.submitted]
    assert len(references) == 3
    for seq, reference in enumerate(references, 1):
        assert f"part {seq}/3: accepted, reference {reference}" in result.stdout
        assert f"reference {reference}: status report delivered" in result.stdout


def test_modem_send_exits_non_zero_when_refused(sim):
    sim.ports["sim1"].modem.cms_error(21, times=1)
    result = gsmgw("modem", "send", "--port", sim.ports["sim1"].path, "+447700900123", "refused",
                   "--report-timeout", "0")
    assert result.returncode == 1
    assert "CMS ERROR: 21" in result.stderr


def test_modem_send_refuses_a_bad_number(sim):
    result = gsmgw("modem", "send", "--port", sim.ports["sim1"].path, "not a number", "x")
    assert result.returncode == 2 and "not a number" in result.stderr


def test_modem_info_on_a_missing_port(tmp_path):
    result = gsmgw("modem", "info", "--port", str(tmp_path / "nothing"), "--timeout", "3")
    assert result.returncode == 1 and "FAIL" in result.stderr


def test_config_check_reports_file_and_key(tmp_path):
    bad = tmp_path / "gsmgw.toml"
    bad.write_text('[[modems]]\nname = "sim1"\nport = "/dev/ttyUSB0"\nbaud = 9600\n')
    result = gsmgw("config", "check", "--config", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "modems[0].baud" in result.stderr
    good = ROOT / "config" / "gsmgw.example.toml"
    assert gsmgw("config", "check", "--config", str(good)).returncode == 0


def test_simulate_prints_port_paths(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "simulate", "2", "--dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith(f"sim1 {tmp_path}/sim1 msisdn=+")
        assert second.startswith(f"sim2 {tmp_path}/sim2 msisdn=+")
        assert Path(tmp_path / "sim1").resolve().as_posix().startswith("/dev/pts/")
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def test_send_and_status_without_a_daemon(tmp_path):
    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n\n[[modems]]\nname = "sim1"\nport = "/dev/null"\n'
                      "[modems.limits]\nper_minute = 6\nmin_gap_s = 10\n")
    queued = gsmgw("send", "--config", str(config), "07700 900123", "Hello", "--priority", "high")
    assert queued.returncode == 0, queued.stderr
    message_id = int(queued.stdout)
    refused = gsmgw("send", "--config", str(config), "12", "Hello")
    assert refused.returncode == 2 and "to:" in refused.stderr

    from gateway.core.clock import Clock
    from gateway.outbound.queue import Queue
    from gateway.sims.history import SendHistory
    from gateway.sims.identity import sim_key
    from gateway.store import db

    engine = db.make_engine(database_url(tmp_path))
    queue = Queue(db.sessions(engine), Clock())
    history = SendHistory(queue.sessions, queue.clock)
    claimed = queue.claim("sim1")
    assert claimed.id == message_id and claimed.to_number == "+447700900123"
    # as a worker does: the send counts for the SIM (here one the daemon never saw: by its modem)
    queue.part_submitting(claimed.part_ids[1], "sim1", send=lambda: history.stamped(
        sim=sim_key(None, None, "sim1"), modem="sim1", to_number=claimed.to_number))
    engine.dispose()

    status = gsmgw("status", "--config", str(config), "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["queue"] == {"sending": 1}
    [sim1] = report["modems"]
    assert sim1["limits"]["minute"] == {"used": 1, "left": 5, "cap": 6}
    assert 0 < sim1["next_slot_in_s"] <= 10
