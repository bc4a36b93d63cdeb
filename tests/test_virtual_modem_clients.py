"""The virtual modem answers other programs too: Gammu (a widely used SMS tool) identifies it and
sends through it, proving the AT dialogue is not shaped only around our own driver."""

from __future__ import annotations

import subprocess

import pytest

from modem.virtual.cli import run_simulator

from .system import require

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25"])
def test_gammu_identifies_and_sends(tmp_path, profile):
    gammu = require("gammu", "gammu")
    sim = run_simulator(1, directory=str(tmp_path / "ports"), profile=profile, register_delay=0.05,
                        report_delay=0.2, out=None)
    try:
        rc = tmp_path / "gammurc"
        rc.write_text(f"[gammu]\ndevice = {sim.ports['sim1'].path}\nconnection = at115200\n")
        identify = subprocess.run([gammu, "-c", str(rc), "identify"], capture_output=True, text=True, timeout=30)
        assert identify.returncode == 0, identify.stdout + identify.stderr
        assert sim.ports["sim1"].modem.imei in identify.stdout
        assert sim.ports["sim1"].modem.imsi in identify.stdout
        send = subprocess.run([gammu, "-c", str(rc), "sendsms", "TEXT", "+447700900123", "-text",
                               "Hello from Gammu €"], capture_output=True, text=True, timeout=30)
        assert send.returncode == 0, send.stdout + send.stderr
        [record] = sim.network.record.submitted
        assert record["text"] == "Hello from Gammu €"
        assert record["recipient"] == "+447700900123"
    finally:
        sim.close()
