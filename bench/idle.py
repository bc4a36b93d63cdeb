"""CPU and memory of an idle daemon with two modems (issue 3): no busy polling.

The daemon is the real one (`gsmgw run` in a child process, REST API on, SQLite under a temp dir),
with two virtual modems in another child process so their CPU is not counted. Once /api/v1/health
says both modems pass, the daemon's own CPU (user + system, every thread, from /proc) is measured
over `--seconds` of doing nothing but its routine modem health checks.

    .venv/bin/python bench/idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from _common import ROOT, emit, free_port, proc_cpu_s, rss_mb, start_simulator, stop_process


def wait_healthy(url: str, modems: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        except OSError as exc:
            last = str(exc)
            time.sleep(0.5)
            continue
        ready = [m for m in body["checks"]["modems"] if m["status"] == "pass"]
        if len(ready) == modems:
            return
        last = json.dumps(body)
        time.sleep(0.5)
    raise RuntimeError(f"daemon not healthy after {timeout} s: {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-") as tmp:
        sim = start_simulator(2, tmp, report_delay=1.0)
        port = free_port()
        config = os.path.join(tmp, "gsmgw.toml")
        with open(config, "w") as f:
            f.write(f'[gateway]\ndata_dir = "{tmp}/data"\n\n[web]\nlisten = "127.0.0.1:{port}"\n')
            for name, path in sim.ports.items():
                f.write(f'\n[[modems]]\nname = "{name}"\nport = "{path}"\n')
        daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", config], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/api/v1/health", len(sim.ports), 60)
            time.sleep(2)  # start-up work (migrations, first health checks) is not idling
            cpu0, wall0 = proc_cpu_s(daemon.pid), time.monotonic()
            time.sleep(args.seconds)
            cpu, wall = proc_cpu_s(daemon.pid) - cpu0, time.monotonic() - wall0
            rss = rss_mb(daemon.pid)
            threads = len(os.listdir(f"/proc/{daemon.pid}/task"))
        finally:
            stop_process(daemon, signal.SIGTERM, 15)
            sim.stop()
    emit({"modems": len(sim.ports), "seconds": round(wall, 1), "cpu_s": round(cpu, 3),
          "cpu_percent": round(100 * cpu / wall, 3), "rss_mb": rss, "threads": threads})


if __name__ == "__main__":
    main()
