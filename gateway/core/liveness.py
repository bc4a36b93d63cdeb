"""Which of the daemon's threads still make progress; systemd's watchdog is fed only while all do.

A thread either ticks (`tick(name)`) each time round its loop, or is watched through a probe: a
function returning what the thread last did, compared by identity, for threads whose loop lives in
another room (a modem supervisor replaces its `Health` at every check and changes state at every
reconnect, so a new object or a new state is progress). A name is stale once it showed no progress
for longer than its allowance. Pure bookkeeping: the caller's clock, no threads of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.clock import Clock

Probe = Callable[[], tuple[object, ...]]


@dataclass
class _Entry:
    allowance: float
    last: float
    probe: Probe | None = None
    seen: tuple[object, ...] = ()


class Liveness:
    """The registry: `register` each thread that must live, `tick` or probe it, ask `stale()`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def register(self, name: str, allowance: float, probe: Probe | None = None) -> None:
        """`allowance`: the longest the thread may go without progress when it is healthy."""
        with self._lock:
            self._entries[name] = _Entry(allowance, self.clock.time(), probe, probe() if probe else ())

    def unregister(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def tick(self, name: str) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                entry.last = self.clock.time()

    def stale(self) -> dict[str, float]:
        """Names without progress within their allowance, with the seconds since their last."""
        now = self.clock.time()
        late: dict[str, float] = {}
        with self._lock:
            for name, entry in self._entries.items():
                if entry.probe is not None:
                    seen = entry.probe()
                    if len(seen) != len(entry.seen) or any(a is not b for a, b in zip(seen, entry.seen)):
                        entry.seen, entry.last = seen, now
                if now - entry.last > entry.allowance:
                    late[name] = now - entry.last
        return late
