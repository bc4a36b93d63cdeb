"""The real daemon (gateway.daemon.Daemon) for the tests, built from config sections."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gateway.core import config as config_module
from gateway.core.clock import Clock
from gateway.daemon import Daemon
from modem.supervisor import Timing


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
    sections, e.g. modems=[{"name": "template", "port": "unused", "limits": {...}}]."""
    data: dict[str, Any] = {"gateway": {"data_dir": str(data_dir)}, "web": {"listen": "127.0.0.1:0"},
                            "simulator": {"report_delay_s": 0.2}, **database_section()}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return Daemon(config_module.from_dict(data), simulate=simulate, clock=clock, modem_timing=modem_timing)
