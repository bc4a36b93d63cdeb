"""Time for the virtual modem: one small scheduler interface, two clocks.

The AT interpreter never sleeps or starts threads itself; latency, status-report delays, hangs and
periodic noise are `call_later` callbacks. Unit tests drive a `ManualScheduler` (time moves only when
the test says so); the pty server and the simulator use one `ThreadScheduler` shared by every modem
on a network, so callbacks run one at a time on a single thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Protocol


class Timer:
    """Handle for a scheduled callback; `cancel()` is safe to call at any time, even twice."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer: ...


class _Queue:
    """Heap of timers ordered by due time, FIFO among equal times."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def push(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))

    def pop_due(self, now: float) -> Timer | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[2]
        return None

    def next_due(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()


class ManualScheduler:
    """Deterministic clock for tests: nothing happens until `advance()` or `run_pending()`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._queue = _Queue()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self._now + max(0.0, delay), fn)
        self._queue.push(timer)
        return timer

    def run_pending(self) -> None:
        while (timer := self._queue.pop_due(self._now)) is not None:
            timer.fn()

    def advance(self, seconds: float) -> None:
        """Move time forward, running every callback due on the way at its own due time."""
        end = self._now + seconds
        while True:
            due = self._queue.next_due()
            if due is None or due > end:
                break
            self._now = max(self._now, due)
            self.run_pending()
        self._now = end
        self.run_pending()

    def close(self) -> None:
        self._queue.clear()


class ThreadScheduler:
    """One daemon-free worker thread running callbacks at their due time (monotonic clock)."""

    def __init__(self, name: str = "virtual-modem-clock") -> None:
        self._queue = _Queue()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), fn)
        with self._cond:
            if not self._closed:
                self._queue.push(timer)
                self._cond.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    timer = self._queue.pop_due(time.monotonic())
                    if timer is not None:
                        break
                    due = self._queue.next_due()
                    self._cond.wait(None if due is None else max(0.0, due - time.monotonic()))
            try:
                timer.fn()
            except Exception:  # a broken callback must not stop every modem's clock
                import logging

                logging.getLogger(__name__).exception("virtual modem timer failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)
