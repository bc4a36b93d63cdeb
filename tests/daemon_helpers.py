"""The real daemon (gateway.daemon.Daemon) for the tests, built from config sections."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gateway.core import config as config_module
from gateway.core.clock import Clock
from gateway.core.config_text import run_config
from gateway.daemon import Daemon
from modem.supervisor import Timing

from .modem_helpers import wait_until

Stoppable = TypeVar("Stoppable")
# how often a test daemon's supervisors read registration while they wait for it: the virtual
# modems register 50-200 ms after they open, and the default's 1 s would be each start's wait
REGISTRATION_POLL_S = 0.05


def database_section() -> dict[str, Any]:
    """The config section naming the test's database when it is not the data folder's SQLite file
    (PostgreSQL mode sets GSMGW_DATABASE_URL per test; see tests/conftest.py)."""
    url = os.environ.get("GSMGW_DATABASE_URL")
    return {"database": {"url": url}} if url else {}


def database_url(data_dir: Path) -> str:
    """The URL of the database a daemon (or CLI) with its data in `data_dir` uses in this test."""
    return os.environ.get("GSMGW_DATABASE_URL") or f"sqlite:///{Path(data_dir) / 'gsmgw.db'}"


def build_daemon(data_dir: Path, clock: Clock, simulate: int = 1, *, modem_timing: Timing | None = None,
                 **sections: Any) -> Daemon:
    """A Daemon on `simulate` virtual modems, not started: data in `data_dir`, the REST API on a
    free loopback port, status reports 0.2 s after a send, time from `clock` (and the supervisors'
    rest periods and backoff from `modem_timing`, if given). `sections` add to or replace config
    sections, e.g. modems=[{"name": "template", "port": "unused", "limits": {...}}]. Every modem
    entry (and, when simulating without one, a template for the virtual modems) reads registration
    every REGISTRATION_POLL_S unless it says otherwise."""
    data: dict[str, Any] = {"gateway": {"data_dir": str(data_dir)}, "web": {"listen": "127.0.0.1:0"},
                            "simulator": {"report_delay_s": 0.2}, **database_section()}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    modems = data.get("modems") or ([{"name": "template", "port": "unused"}] if simulate else [])
    if modems:
        data["modems"] = [{"registration_poll_s": REGISTRATION_POLL_S, **entry} for entry in modems]
    return Daemon(config_module.from_dict(data), simulate=simulate, clock=clock, modem_timing=modem_timing)


def write_run_config(tmp_path: Path, ports: dict, extra: str = "") -> Path:
    """A config for a `gsmgw run` process on the virtual modems `ports` (name -> port): data in
    tmp_path/data, the API on a free loopback port, no send limits; `extra` is TOML for more sections."""
    modems = {name: {"port": port.path, "check_interval_s": 2.0, "registration_poll_s": REGISTRATION_POLL_S}
              for name, port in ports.items()}
    path = tmp_path / "gsmgw.toml"
    path.write_text(run_config(tmp_path / "data", "127.0.0.1:0", modems, extra))
    return path


def start_daemon(config: Path, log: Any) -> subprocess.Popen:
    """`gsmgw run --config <config>`, its output to `log`."""
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent)


def sigkill_after_progress(daemon: subprocess.Popen, progress: Callable[[], int], rng: random.Random) -> None:
    """Kill a running daemon while it really works: once `progress()` has moved (or 30 s passed, or
    it died), at a random moment within 0.6 s after."""
    before = progress()
    try:
        wait_until(lambda: progress() > before or daemon.poll() is not None, 30, "progress")
    except AssertionError:
        pass
    time.sleep(rng.uniform(0.0, 0.6))
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(10)


@contextmanager
def stopped_after(build: Callable[..., Stoppable]) -> Iterator[Callable[..., Stoppable]]:
    """make(**options) -> build(**options), each one made stopped when the block ends (a factory
    fixture's body: a test may start several, one after another, and stop some itself)."""
    made: list[Any] = []

    def make(**options: Any) -> Stoppable:
        made.append(build(**options))
        return made[-1]

    try:
        yield make
    finally:
        for thing in made:
            thing.stop()
