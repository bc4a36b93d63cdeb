"""Logging set-up: the daemon's log, and the modem conversation in a file of its own.

A technician reading the AT conversation should not wade through web noise, so `gsmgw.serial` goes to
a rotating `serial.log` only (not propagated), like OctoPrint's serial.log.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def configure(data_dir: str | None, *, verbose: bool = False, serial_log: bool = True) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not any(getattr(h, "_gsmgw", False) for h in root.handlers):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        console._gsmgw = True  # type: ignore[attr-defined]
        root.addHandler(console)
    serial_logger = logging.getLogger("gsmgw.serial")
    serial_logger.propagate = False
    if serial_log and data_dir and not serial_logger.handlers:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            Path(data_dir) / "serial.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        serial_logger.addHandler(handler)
        serial_logger.setLevel(logging.DEBUG)
