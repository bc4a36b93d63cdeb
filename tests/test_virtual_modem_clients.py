"""The virtual modem answers other programs too: Gammu (a widely used SMS tool) identifies it,
sends through it and reads USSD from it, proving the AT dialogue is not shaped only around our own
driver."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


from .modem_helpers import virtual_modems
from .system import require

pytestmark = pytest.mark.timeout(90)

PROFILES = ["sim800", "e3131", "ec25", "generic"]
COMMANDS = 'identify\nsendsms TEXT +447700900123 -text "Hello from Gammu €"\ngetussd *100#\n'


@dataclass
class GammuRun:
    """One profile's virtual modem and what one Gammu session on it printed."""

    sim: Any
    modem: Any
    stdout: str
    stderr: str
    returncode: int


@pytest.fixture(scope="module")
def gammu_runs(tmp_path_factory) -> Iterator[dict[str, GammuRun]]:
    """One Gammu session per profile, all at once, each on its own virtual modem: after a USSD
    answer Gammu waits 10 s of its own for more, so four sessions in turn would wait 40 s."""
    gammu = require("gammu", "gammu")
    started: dict[str, tuple[Any, subprocess.Popen]] = {}
    try:
        for profile in PROFILES:
            directory = tmp_path_factory.mktemp(f"gammu-{profile}")
            sim = virtual_modems(directory / "ports", profile=profile, modem_options={"ussd_delay": 0.05},
                                 report_delay=1.0)
            started[profile] = (sim, None)
            sim.ports["sim1"].modem.ussd_reply("Balance 5.00 GBP\n1 Top up £")
            rc = directory / "gammurc"
            rc.write_text(f"[gammu]\ndevice = {sim.ports['sim1'].path}\nconnection = at115200\n")
            commands = directory / "commands"
            commands.write_text(COMMANDS)
            process = subprocess.Popen([gammu, "-c", str(rc), "batch", str(commands)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            started[profile] = (sim, process)
        runs = {}
        for profile, (sim, process) in started.items():
            stdout, stderr = process.communicate(timeout=70)
            runs[profile] = GammuRun(sim, sim.ports["sim1"].modem, stdout, stderr, process.returncode)
        yield runs
    finally:
        for sim, process in started.values():
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
            sim.close()


@pytest.mark.parametrize("profile", PROFILES)
def test_gammu_identifies_sends_and_reads_ussd(gammu_runs, profile):
    """Gammu asks each model for USSD its own way (UCS2; packed septets for Huawei's E3131) and
    reads a multi-line answer with characters outside ASCII: the virtual modem's USSD coding per
    profile is what a real client expects of that model.

    One Gammu session runs the three commands: its start-up (written a character at a time, 0.4 s
    a command until it knows the model) comes once."""
    run = gammu_runs[profile]
    modem = run.modem
    assert run.returncode == 0, run.stdout + run.stderr
    identify, rest = run.stdout.split("command 2: sendsms")
    send, ussd = rest.split("command 3: getussd")
    assert modem.imei in identify
    assert modem.imsi in identify
    assert "OK, message reference=" in send, run.stdout + run.stderr
    [record] = run.sim.network.record.submitted
    assert record["text"] == "Hello from Gammu €"
    assert record["recipient"] == "+447700900123"
    # Gammu keeps DCS 0x11's language code as a character before the text: look inside the reply
    assert 'Balance 5.00 GBP\n1 Top up £"' in ussd
    assert modem.ussd_requests == ["*100#"]
