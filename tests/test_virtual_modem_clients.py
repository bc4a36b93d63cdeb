"""The virtual modem answers other programs too: Gammu (a widely used SMS tool) identifies it,
sends through it and reads USSD from it, proving the AT dialogue is not shaped only around our own
driver."""

from __future__ import annotations

import subprocess

import pytest


from .modem_helpers import virtual_modems
from .system import require

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_gammu_identifies_sends_and_reads_ussd(tmp_path, profile):
    """Gammu asks each model for USSD its own way (UCS2; packed septets for Huawei's E3131) and
    reads a multi-line answer with characters outside ASCII: the virtual modem's USSD coding per
    profile is what a real client expects of that model.

    One Gammu session runs the three commands: its start-up (written a character at a time, 0.4 s
    a command until it knows the model) comes once."""
    gammu = require("gammu", "gammu")
    sim = virtual_modems(tmp_path / "ports", profile=profile, modem_options={"ussd_delay": 0.05}, report_delay=1.0)
    try:
        modem = sim.ports["sim1"].modem
        modem.ussd_reply("Balance 5.00 GBP\n1 Top up £")
        rc = tmp_path / "gammurc"
        rc.write_text(f"[gammu]\ndevice = {sim.ports['sim1'].path}\nconnection = at115200\n")
        commands = tmp_path / "commands"
        commands.write_text('identify\nsendsms TEXT +447700900123 -text "Hello from Gammu €"\ngetussd *100#\n')
        run = subprocess.run([gammu, "-c", str(rc), "batch", str(commands)], capture_output=True, text=True,
                             timeout=70)
        assert run.returncode == 0, run.stdout + run.stderr
        identify, rest = run.stdout.split("command 2: sendsms")
        send, ussd = rest.split("command 3: getussd")
        assert modem.imei in identify
        assert modem.imsi in identify
        assert "OK, message reference=" in send, run.stdout + run.stderr
        [record] = sim.network.record.submitted
        assert record["text"] == "Hello from Gammu €"
        assert record["recipient"] == "+447700900123"
        # Gammu keeps DCS 0x11's language code as a character before the text: look inside the reply
        assert 'Balance 5.00 GBP\n1 Top up £"' in ussd
        assert modem.ussd_requests == ["*100#"]
    finally:
        sim.close()
