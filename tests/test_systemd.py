"""The daemon under systemd's notify protocol: a real `gsmgw run` process, a real NOTIFY_SOCKET the
test opens, modems on the test's virtual modems; and the unit files as systemd-analyze reads them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.core.clock import FakeClock
from gateway.core.liveness import Liveness
from gateway.core.sd_notify import Notifier, Watchdog

from .modem_helpers import virtual_modems

ROOT = Path(__file__).parent.parent
WATCHDOG_USEC = 2_000_000  # a beat every 2/3 s: one a busy machine delays by a second is still in time


class NotifySocket:
    """What systemd listens on: a Unix datagram socket; each datagram becomes a dict of fields."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[tuple[float, dict[str, str]]] = []

    def next(self, timeout: float) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.received.append((time.monotonic(), fields))
        return fields

    def until(self, predicate, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            fields = self.next(left)
            if fields is not None and predicate(fields):
                return fields
        raise AssertionError(f"no such notification within {timeout} s; got {self.received[-5:]}")

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.sqlite_only  # wedged by another process holding SQLite's write lock
@pytest.mark.timeout(120)
def test_ready_status_watchdog_and_no_feed_while_a_supervisor_is_wedged(tmp_path):
    sim = virtual_modems(tmp_path / "ports", 2)
    notify = NotifySocket(tmp_path / "notify")
    port = free_port()
    modems = "".join(
        f'[[modems]]\nname = "{name}"\nport = "{p.path}"\ncheck_interval_s = 0.2\nregistration_timeout_s = 1\n'
        f"command_timeout_s = 0.5\nsend_timeout_s = 1\n\n" for name, p in sim.ports.items())
    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n\n[web]\nlisten = "127.0.0.1:{port}"\n\n{modems}')
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(config)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    database = None
    try:
        ready = notify.until(lambda f: "READY" in f, 40)
        assert ready["READY"] == "1" and ready["STATUS"].endswith(", 0 queued")
        # READY means the database is open and the API answers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=10) as response:
            assert json.load(response)["status"] in ("pass", "warn", "fail")
        notify.until(lambda f: f.get("STATUS") == "2 modems ready, 0 queued", 20)

        # regular WATCHDOG=1, well inside the period, each with a fresh status
        beats = []
        while len(beats) < 6:
            fields = notify.next(WATCHDOG_USEC / 1e6)
            assert fields is not None, "the watchdog feed stopped while every thread was alive"
            if fields.get("WATCHDOG") == "1":
                beats.append(time.monotonic())
                assert fields["STATUS"] == "2 modems ready, 0 queued"
        assert max(b - a for a, b in zip(beats, beats[1:])) < WATCHDOG_USEC / 1e6

        # wedge sim1's supervisor for real: another process holds the database's write lock, and
        # sim1 losing its network makes the supervisor record its new state, where it blocks
        database = sqlite3.connect(tmp_path / "gsmgw.db", isolation_level=None, timeout=10)
        database.execute("BEGIN IMMEDIATE")
        sim.ports["sim1"].modem.no_network()
        stalled = notify.until(lambda f: f.get("STATUS", "").startswith("stalled"), 20)
        assert stalled == {"STATUS": "stalled: modem sim1"}  # sim2, the engine and the web still progress
        quiet_until = time.monotonic() + 2 * WATCHDOG_USEC / 1e6
        while (left := quiet_until - time.monotonic()) > 0:
            fields = notify.next(left)
            assert fields is None or "WATCHDOG" not in fields, "fed the watchdog while sim1 was wedged"

        # the write lock goes: the supervisor records its state, the feed comes back
        database.execute("ROLLBACK")
        back = notify.until(lambda f: f.get("WATCHDOG") == "1", 20)
        assert back["STATUS"].startswith("1 of 2 modems ready (sim1 ")  # no_network, or already reconnecting
    finally:
        if database is not None:
            database.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
        while notify.next(0.2) is not None:  # what it said on the way out
            pass
        notify.close()
        sim.close()
        log.close()
    assert daemon.returncode == 0, (tmp_path / "daemon.log").read_text()
    assert notify.received[-1][1] == {"STOPPING": "1"}


def test_liveness_ticks_and_probes_by_identity():
    clock = FakeClock()
    liveness = Liveness(clock)
    health = [object()]
    liveness.register("engine", 10)
    liveness.register("modem sim1", 10, lambda: (health[0],))
    clock.advance(8)
    liveness.tick("engine")
    health[0] = object()  # a new health reading is progress
    clock.advance(8)
    assert liveness.stale() == {}
    clock.advance(11)
    assert set(liveness.stale()) == {"engine", "modem sim1"}
    liveness.tick("engine")
    assert set(liveness.stale()) == {"modem sim1"}


def test_notifier_writes_datagrams_and_does_nothing_without_a_socket(tmp_path):
    notify = NotifySocket(tmp_path / "n")
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "3000000"})
        assert notifier.watchdog_seconds == 3.0
        assert notifier.send(READY="1", STATUS="starting")
        assert notify.next(2) == {"READY": "1", "STATUS": "starting"}
        clock = FakeClock()
        liveness = Liveness(clock)
        liveness.register("web", 5)
        watchdog = Watchdog(notifier, liveness, clock, lambda: "1 modem ready, 0 queued")
        assert watchdog.beat() and notify.next(2) == {"STATUS": "1 modem ready, 0 queued", "WATCHDOG": "1"}
        clock.advance(6)
        assert not watchdog.beat() and notify.next(2) == {"STATUS": "stalled: web"}
    finally:
        notify.close()
    assert not Notifier({}).send(READY="1")
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_seconds is None  # the watchdog is another process's


def unit_here(tmp_path: Path) -> Path:
    """The unit names /opt/gsmgw; verify checks that ExecStart exists, so point it at an executable here."""
    unit = tmp_path / "gsmgw.service"
    unit.write_text((ROOT / "systemd" / "gsmgw.service").read_text().replace(
        "/opt/gsmgw/.venv/bin/gsmgw", str(Path(sys.executable).parent / "gsmgw")))
    return unit


def test_units_pass_systemd_analyze_verify(tmp_path):
    unit = unit_here(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gsmgw.service" not in result.stderr, result.stderr  # no warning about our unit


def test_the_units_exposure_is_what_the_readme_says(tmp_path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit_here(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for gsmgw.service: (\d+\.\d)", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert f"rates its exposure {found.group(1)} (OK)" in (ROOT / "README.md").read_text()
