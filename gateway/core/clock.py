"""Time, swappable: the daemon uses the real clock; tests move a fake one by hand.

Two clocks, as the system has them: the wall clock (`now`, `time`: what is stored and shown) and the
monotonic one (`monotonic`: only ever moves forward at the pace of real time). A Raspberry Pi has no
real-time clock, so NTP jumps its wall clock after boot; durations (limit windows, waits) are measured
on the monotonic clock, which NTP never jumps. Its readings are comparable only within one boot
(`boot_id`).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
_PROCESS_BOOT = f"process-{uuid.uuid4()}"  # no boot id to read: monotonic readings stay within the process


def _read_boot_id() -> str:
    try:
        return _BOOT_ID_FILE.read_text().strip() or _PROCESS_BOOT
    except OSError:
        return _PROCESS_BOOT


class Clock:
    """Wall-clock and monotonic time, and interruptible waiting."""

    def __init__(self) -> None:
        self._boot = _read_boot_id()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock no wall-clock jump moves (CLOCK_MONOTONIC: shared by every process of one boot)."""
        return time.monotonic()

    def boot_id(self) -> str:
        """Which boot `monotonic` readings belong to: readings of another boot cannot be compared."""
        return self._boot

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` (monotonic time) or until `wake` is set; True if woken."""
        return wake.wait(max(0.0, seconds))


class FakeClock(Clock):
    """A clock that only moves when told to; waiters see the new time at once.

    `advance` moves both clocks (time passes); `jump` moves only the wall clock (NTP stepping it)."""

    def __init__(self, start: float = 1_800_000_000.0, *, monotonic_start: float = 1000.0,
                 boot: str = "fake-boot") -> None:
        self._now = start
        self._mono = monotonic_start
        self._boot = boot
        self._changed = threading.Condition()
        self._waiting: dict[str, tuple[float, float]] = {}  # thread name -> (clock time it began, deadline)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._mono += seconds
            self._changed.notify_all()

    def jump(self, seconds: float) -> None:
        """Step the wall clock by `seconds` (either way) while no time passes, as NTP does after boot."""
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def reboot(self, *, boot: str) -> None:
        """A new boot: the monotonic clock starts again (its old readings mean nothing now)."""
        with self._changed:
            self._boot = boot
            self._mono = 0.0
            self._changed.notify_all()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        name = threading.current_thread().name
        with self._changed:
            deadline = self._mono + max(0.0, seconds)  # as Event.wait: a wall-clock jump does not end it
            self._waiting[name] = (self._now, self._now + max(0.0, seconds))
            try:
                while not wake.is_set() and self._mono < deadline:
                    # real time is only used to notice `wake`, which a plain Event can't signal here
                    self._changed.wait(0.01)
            finally:
                self._waiting.pop(name, None)
        return wake.is_set()

    def waiting(self, thread: str) -> tuple[float, float] | None:
        """(clock time it began, deadline) of the wait the named thread is in now, None if it is not
        waiting: a test sees that a worker went idle until a given moment (and so does nothing
        before it) without watching it for a stretch of real time. Both in wall-clock time as it
        read when the wait began."""
        with self._changed:
            return self._waiting.get(thread)
