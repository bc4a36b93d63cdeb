"""systemd's notify protocol, written on the socket: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

`NOTIFY_SOCKET` names a Unix datagram socket (a leading `@` is the abstract namespace); without it
(not under systemd, or `Type=simple`) every call does nothing. `WATCHDOG_USEC` is the watchdog's
period; `Watchdog` sends WATCHDOG=1 at a third of it, but only while the liveness registry says every
thread makes progress, so a wedged thread lets systemd restart the service (Restart=on-failure).
Each round that feeds it also calls the `fed` hooks (the system LED's heartbeat), with or without
systemd, so a steady heartbeat means every thread lives.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

from gateway.core.clock import Clock
from gateway.core.liveness import Liveness

log = logging.getLogger("gsmgw")
HEARTBEAT_S = 2.0  # a round's interval when only the system LED listens


class Notifier:
    """Sends notify messages to the service manager, if there is one."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        path = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        ours = not pid or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_seconds = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and ours else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str) -> bool:
        """send(READY="1", STATUS="2 modems ready") -> one datagram `READY=1\\nSTATUS=...`."""
        if not self.address:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
            return True
        except OSError as exc:
            log.warning("could not notify systemd on %s: %s", self.address.lstrip("\0"), exc)
            return False


class Watchdog:
    """A thread that feeds the watchdog while every registered thread lives, and keeps STATUS= fresh."""

    def __init__(self, notifier: Notifier, liveness: Liveness, clock: Clock, status: Callable[[], str]) -> None:
        self.notifier = notifier
        self.liveness = liveness
        self.clock = clock
        self.status = status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: tuple[str, ...] = ()
        self.fed: list[Callable[[], None]] = []  # called after each round in which nothing was stale

    def start(self) -> None:
        if not self.notifier.enabled and not self.fed:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None

    def beat(self) -> bool:
        """One round: WATCHDOG=1 with the status if nothing is stale, else only a STATUS naming it."""
        stale = self.liveness.stale()
        if stale:
            names = tuple(sorted(stale))
            if names != self._reported:
                log.error("not feeding the watchdog: no progress in %s",
                          ", ".join(f"{n} for {s:.0f} s" for n, s in sorted(stale.items())))
            self._reported = names
            self.notifier.send(STATUS="stalled: " + ", ".join(names))
            return False
        self._reported = ()
        fields = {"STATUS": self.status()}
        if self.notifier.watchdog_seconds is not None:
            fields["WATCHDOG"] = "1"
        self.notifier.send(**fields)
        for hook in self.fed:
            hook()
        return True

    def _run(self) -> None:
        period = self.notifier.watchdog_seconds
        interval = period / 3 if period else (HEARTBEAT_S if self.fed else 10.0)
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # the status query failed (database busy): no feed this round
                log.exception("watchdog round failed")
            self.clock.wait(self._stop, interval)
