"""The virtual modem answers other programs too: Gammu (a widely used SMS tool) identifies it and
sends through it, proving the AT dialogue is not shaped only around our own driver."""

from __future__ import annotations

import subprocess

import pytest


from .modem_helpers import virtual_modems
from .system import require

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_gammu_identifies_and_sends(tmp_path, profile):
    gammu = require("gammu", "gammu")
    sim = virtual_modems(tmp_path / "ports", profile=profile)
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


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_gammu_reads_ussd(tmp_path, profile):
    """Gammu asks each model for USSD its own way (UCS2; packed septets for Huawei's E3131) and
    reads a multi-line answer with characters outside ASCII: the virtual modem's USSD coding per
    profile is what a real client expects of that model."""
    gammu = require("gammu", "gammu")
    sim = virtual_modems(tmp_path / "ports", profile=profile, modem_options={"ussd_delay": 0.05}, report_delay=1.0)
    try:
        modem = sim.ports["sim1"].modem
        modem.ussd_reply("Balance 5.00 GBP\n1 Top up £")
        rc = tmp_path / "gammurc"
        rc.write_text(f"[gammu]\ndevice = {sim.ports['sim1'].path}\nconnection = at115200\n")
        ussd = subprocess.run([gammu, "-c", str(rc), "getussd", "*100#"], capture_output=True, text=True,
                              timeout=40)
        assert ussd.returncode == 0, ussd.stdout + ussd.stderr
        # Gammu keeps DCS 0x11's language code as a character before the text: look inside the reply
        assert 'Balance 5.00 GBP\n1 Top up £"' in ussd.stdout
        assert modem.ussd_requests == ["*100#"]
    finally:
        sim.close()
