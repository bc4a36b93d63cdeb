"""The soak (bench/soak.py) in small: a real `gsmgw run` daemon on four virtual modems and a fifth
with a wrong PIN, random faults of every kind for half a minute while 60 messages go out through
the REST API and 20 SMS come in; its JSON line must show every invariant held. A status report
not in after 30 s (the soak's `[reports] wait_hours`) will not come: the daemon records it so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(150)
def test_short_soak_keeps_every_invariant(tmp_path):
    run = subprocess.run(
        [sys.executable, "bench/soak.py", "--minutes", "0.5", "--messages", "60", "--inbound", "20",
         "--seed", "20261201", "--fault-gap", "1.5", "--drain", "60", "--keep", str(tmp_path / "soak")],
        cwd=ROOT, capture_output=True, text=True, timeout=140)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, (result, run.stderr[-2000:])
    assert (result["messages"], result["inbound"], result["modems"]) == (60, 20, 4)
    assert sum(result["faults"].values()) >= 10  # faults really were injected
    assert result["duplicates"] == 0 and result["lost_inbound"] == 0 and result["sims_locked"] == 0
    assert result["not_final"] == 0 and result["awaiting_report"] == 0  # no tolerance by counting
    # every message delivered, failed, unknown, or sent with no report to come (after --report-wait)
    assert set(result["final_states"]) <= {"delivered", "failed", "unknown", "sent_no_report"}, result["final_states"]
    assert result["wrong_pin"]["pin_attempts"] == 1  # however often its modem was reset or unplugged
    assert sum(result["final_states"].values()) == 60
    assert result["daemon_exit"] == 0
