"""Time, swappable: the daemon uses the real clock; tests move a fake one by hand."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time and interruptible waiting."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` (clock time) or until `wake` is set; True if woken."""
        return wake.wait(max(0.0, seconds))


class FakeClock(Clock):
    """A clock that only moves when told to; waiters see the new time at once."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        deadline = self._now + max(0.0, seconds)
        with self._changed:
            while not wake.is_set() and self._now < deadline:
                # real time is only used to notice `wake`, which a plain Event can't signal here
                self._changed.wait(0.01)
        return wake.is_set()
