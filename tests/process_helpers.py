"""Crashes and processes for the tests: a kill -9 stand-in, the `gsmgw` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


class ProcessDied(BaseException):
    """Stands for a kill -9: not an Exception, so nothing on the way catches it. Raised from a hook,
    it stops the work where a crash would, its transaction never committed."""


def gsmgw(*args: str, config: Path | None = None, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    """`gsmgw ARGS [--config CONFIG]` in a process of its own, from the checkout, output captured."""
    command = [sys.executable, "-m", "gateway.cli", *args, *(["--config", str(config)] if config else [])]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=check)


def stop(process: subprocess.Popen, signum: int, timeout: float = 15) -> int:
    """Send `signum` and wait for the exit code; a process that outlives `timeout` is killed and
    the wait's TimeoutExpired raised."""
    process.send_signal(signum)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise
