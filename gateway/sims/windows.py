"""The limit windows of the SIM a modem holds: its recent sends on the monotonic clock, its limits.

A worker sends for whichever SIM its modem holds now: after each init, another SIM in brings its own
windows (loaded from the send history) and its own limits, so the counts are the SIM's wherever it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.core.clock import Clock
from gateway.outbound.limits import Limits, WindowUse, next_slot, prune, usage
from gateway.sims.history import SendHistory
from gateway.sims.identity import sim_key
from modem.session import Identity

log = logging.getLogger("gsmgw.worker")
LimitsFor = Callable[[Identity | None], Limits]  # the limits of the SIM a modem holds


class SimWindows:
    def __init__(self, modem: str, history: SendHistory, clock: Clock, limits: Limits,
                 limits_for: LimitsFor | None = None, limits_version: Callable[[], int] | None = None) -> None:
        self.modem = modem
        self.history = history
        self.clock = clock
        self.limits = limits  # the SIM's, once the modem says which SIM it holds
        self.limits_for = limits_for or (lambda identity: limits)
        self.sim: str | None = None  # the identity of the SIM whose sends `_times` holds
        self._imsi: str | None = None  # that SIM's IMSI, as last read
        self._times: list[float] = []  # its recent sends, monotonic clock, ascending
        # moves when the limits `limits_for` gives change (the console's settings): read before each wait
        self.limits_version = limits_version
        self._version = limits_version() if limits_version else 0
        self._identity: Identity | None = None

    def key(self, identity: Identity | None) -> str:
        return sim_key(identity.iccid if identity else None, identity.imsi if identity else None, self.modem)

    def follow(self, identity: Identity | None) -> None:
        """The modem holds the SIM `identity` names: if it is another SIM, load its windows and limits."""
        sim = self.key(identity)
        if sim == self.sim or self._read_less(identity):
            return
        limits = self.limits_for(identity)
        times = self.history.times(sim, max(limits.longest_window, limits.min_gap_s))
        self.limits, self._times, self.sim = limits, times, sim
        self._imsi = identity.imsi if identity else None
        self._identity = identity
        log.info("%s: holds SIM %s (%d sends in its windows)", self.modem, sim, len(times))

    def _read_less(self, identity: Identity | None) -> bool:
        """The same SIM, its ICCID (or all of it) not read this time (a command that timed out): a
        SIM swapped in shows its own ICCID or IMSI, so a read that shows less is no other SIM."""
        if self.sim is None or (identity is not None and identity.iccid):
            return False
        return identity is None or identity.imsi is None or identity.imsi == self._imsi

    def wait(self) -> float:
        """Seconds until the limits allow a part, on the monotonic clock (0: now)."""
        self._follow_changes()
        now = self.clock.monotonic()
        return max(0.0, next_slot(self._times, self.limits, now) - now)

    def _follow_changes(self) -> None:
        """New limits for the SIM held, once their version moved; a longer window reloads its sends."""
        if self.limits_version is None or self.sim is None:
            return
        version = self.limits_version()
        if version == self._version:
            return
        self._version = version
        limits = self.limits_for(self._identity)
        if limits == self.limits:
            return
        span = max(limits.longest_window, limits.min_gap_s)
        if span > max(self.limits.longest_window, self.limits.min_gap_s):
            self._times = self.history.times(self.sim, span)
        log.info("%s: SIM %s now sends under %s", self.modem, self.sim, limits)
        self.limits = limits

    def usage(self) -> list[WindowUse]:
        """For the status (another thread): under the limits in force, so a change in the console
        shows at once, not only after the worker's next wait takes it up (nothing changed here)."""
        return usage(self._times, self._limits_in_force(), self.clock.monotonic())

    def _limits_in_force(self) -> Limits:
        if self.limits_version is None or self.sim is None or self.limits_version() == self._version:
            return self.limits
        return self.limits_for(self._identity)

    def stamped(self, to_number: str) -> dict[str, Any]:
        """A part going now to `to_number`: its row in the SIM's history (`history.record`), stored
        in its `submitting` commit so the count survives a crash."""
        return self.history.stamped(sim=self.sim or self.key(None), modem=self.modem, to_number=to_number)

    def sent(self) -> None:
        """The part recorded went: it counts in the windows at once."""
        now = self.clock.monotonic()
        self._times.append(now)
        prune(self._times, self.limits, now)
