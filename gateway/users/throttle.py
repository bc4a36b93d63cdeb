"""Failed sign-ins counted per key (a client address, a user name) in a sliding window.

Pure: the caller passes the time (the Clock's monotonic reading), so tests move it with the FakeClock.
After `limit` failures within `window_s`, the key waits until the oldest of them is `window_s` old.
"""

from __future__ import annotations

import threading
from collections import deque


class Throttle:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # waitress serves requests from several threads

    def wait_s(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        with self._lock:
            failures = self._recent(key, now)
            if len(failures) < self.limit:
                return 0.0
            return max(0.0, failures[0] + self.window_s - now)

    def failed(self, key: str, now: float) -> None:
        with self._lock:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            # forget idle keys, so a scan of many addresses cannot grow the table for ever
            self._failures.pop(key, None)
            failures = self._failures.setdefault(key, deque())
        return failures
