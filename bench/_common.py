"""Shared by the benches (and scripts/fuzz_api.py): virtual modems in a child process, a free port,
stopping a child process, CPU and memory of a process, the command line of a bench on a stored database."""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _dies_with_parent() -> None:
    """In the child, before exec: SIGTERM when the bench that started it dies, so a bench that was
    killed leaves no virtual modems behind (start it from the thread that lives as long as the bench)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Simulator:
    """`python -m modem.virtual N` in a child process, so its CPU is not the bench's."""

    process: subprocess.Popen
    ports: dict[str, str]  # sim1 -> pty symlink
    record: str

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process, signal.SIGTERM, 10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for the daemon's web.listen)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, signum: int, timeout: float) -> int | None:
    """Send `signum` and wait up to `timeout` for the exit code; a process that outlives it is
    killed, and None says so."""
    process.send_signal(signum)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def start_simulator(count: int, directory: str, *, latency: float = 0.0, send_delay: float = 0.0,
                    report_delay: float = 60.0, timeout: float = 20.0) -> Simulator:
    record = os.path.join(directory, "submitted.jsonl")
    command = [sys.executable, "-m", "modem.virtual", str(count), "--dir", directory,
               "--latency", str(latency), "--send-delay", str(send_delay),
               "--report-delay", str(report_delay), "--record", record]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=_dies_with_parent)
    ports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while len(ports) < count:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"virtual modems did not start: {' '.join(command)}")
        match = re.match(r"(sim\d+) (\S+) msisdn=", line)
        if match:
            ports[match.group(1)] = match.group(2)
    return Simulator(process, ports, record)


def self_cpu_s() -> float:
    """User + system CPU seconds of this process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now, from /proc/PID/status (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def emit(result: dict) -> None:
    """The bench contract: one JSON object on the last line of output."""
    print(json.dumps(result), flush=True)


def in_database_folder(given: str | None, prefix: str, measure: Callable[[str], dict]) -> dict:
    """`measure` on the database file `gsmgw.db` of folder `given` (kept, so a second run reuses
    it), or of a temporary folder on disk (not tmpfs: the figures are about a disk) removed after."""
    directory = given or tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.makedirs(directory, exist_ok=True)
    try:
        return measure(os.path.join(directory, "gsmgw.db"))
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


def stored_database_bench(description: str, prefix: str, dir_help: str,
                          options: Callable[[argparse.ArgumentParser], None],
                          measure: Callable[[argparse.Namespace, str], dict]) -> None:
    """A bench on a large stored database: how much is stored (--messages, --contacts), the bench's own
    `options`, where the database goes (--dir); `measure(args, path)` printed as the bench's JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    options(parser)
    parser.add_argument("--dir", help=dir_help)
    args = parser.parse_args()
    emit(in_database_folder(args.dir, prefix, lambda path: measure(args, path)))
