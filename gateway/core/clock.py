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
        self._waiting: dict[str, tuple[float, float]] = {}  # thread name -> (clock time it began, deadline)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        name = threading.current_thread().name
        with self._changed:
            deadline = self._now + max(0.0, seconds)
            self._waiting[name] = (self._now, deadline)
            try:
                while not wake.is_set() and self._now < deadline:
                    # real time is only used to notice `wake`, which a plain Event can't signal here
                    self._changed.wait(0.01)
            finally:
                self._waiting.pop(name, None)
        return wake.is_set()

    def waiting(self, thread: str) -> tuple[float, float] | None:
        """(clock time it began, deadline) of the wait the named thread is in now, None if it is not
        waiting: a test sees that a worker went idle until a given moment (and so does nothing
        before it) without watching it for a stretch of real time."""
        with self._changed:
            return self._waiting.get(thread)
