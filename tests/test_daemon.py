"""The daemon as a user runs it: `gsmgw run --simulate 2` comes up, sends, and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.core.clock import Clock
from gateway.outbound.queue import Queue
from gateway.store import db

from .daemon_helpers import database_url
from .modem_helpers import wait_until
from .process_helpers import gsmgw, stop


@pytest.mark.timeout(60)
def test_run_simulate_sends_and_stops_on_ctrl_c_within_10_s(tmp_path):
    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n\n[web]\nlisten = "127.0.0.1:0"\n\n'
                      '[simulator]\nreport_delay_s = 0.2\n')
    daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--simulate", "2", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=Path(__file__).parent.parent)
    try:
        lines = []
        for line in daemon.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        output = "".join(lines)
        assert "sim1   ready" in output and "sim2   ready" in output, output
        api = re.search(r"REST API: (http://\S+/api/v1)", output)
        assert api, output
        with urllib.request.urlopen(f"{api.group(1)}/health", timeout=10) as response:
            assert json.load(response)["status"] in ("pass", "warn")
        sent = gsmgw("send", "+447700900123", "hello from the CLI", config=config, check=True)
        message_id = int(sent.stdout.strip())
        engine = db.make_engine(database_url(tmp_path))
        queue = Queue(db.sessions(engine), Clock())
        wait_until(lambda: queue.get(message_id).status == "delivered", 15, "delivery")
        engine.dispose()
    finally:
        started = time.monotonic()
        code = stop(daemon, signal.SIGINT)
        stopped_in = time.monotonic() - started
        daemon.stdout.close()
    assert code == 0
    assert stopped_in < 10
