"""The soak's faults (bench/soak.py): one drawn at random through the virtual modems' control API,
each timed one undone by its own deadline, and everything undone at the end."""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from modem.virtual.cli import Simulation
from modem.virtual.control import apply

OTHER_URCS = ("RING", "+CGEV: ME PDN ACT 1", "^RSSI: 17", "+CREG: 1", "^BOOT:12345678,0,0,0,72")


@dataclass
class Faults:
    """Random faults through the control API; each timed one undone by its own deadline."""

    sim: Simulation
    rng: random.Random
    traffic: list[str]  # the SIMs that carry traffic
    extra: list[str]  # modems only faulted at the port and line level (the wrong-PIN one)
    counts: Counter = field(default_factory=Counter)
    _undo: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _seq: int = 0
    rested: set[str] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)  # every fault: when (epoch), on which modem, what

    def control(self, modem: str, cmd: str, **kwargs: Any) -> Any:
        return apply(self.sim.ports, {"cmd": cmd, "modem": modem, **kwargs})

    def later(self, seconds: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._undo, (time.monotonic() + seconds, self._seq, fn))

    def run_due(self, everything: bool = False) -> None:
        while self._undo and (everything or self._undo[0][0] <= time.monotonic()):
            heapq.heappop(self._undo)[2]()

    def inject(self, elapsed_share: float) -> None:
        """One fault, its kind and modem drawn at random."""
        rng = self.rng
        kinds = dict(hang=8, unplug=6, reset=6, noise=8, vendor_noise=5, urc_midresponse=6, urc_inside_pair=6,
                     storage_full=5, cms_transient=8, cme_error=4, no_network=4, no_prompt=4, split_lines=3,
                     trailing_zero=3, latency=4)
        # a SIM or network refusal rests the SIM for 15 minutes: once each, on different SIMs, in the
        # first half, so that at least half the SIMs keep carrying the traffic
        if elapsed_share < 0.5 and len(self.rested) < len(self.traffic) // 2:
            kinds.update(barred=2 if not self.counts["barred"] else 0,
                         network_error=2 if not self.counts["network_error"] else 0)
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        line_level = {"hang", "unplug", "reset", "noise", "vendor_noise", "urc_midresponse", "split_lines"}
        candidates = [m for m in self.traffic if m not in self.rested] if kind in ("barred", "network_error") \
            else self.traffic + (self.extra if kind in line_level else [])
        modem = rng.choice(candidates)
        self.counts[kind] += 1
        self.log.append({"at": round(time.time(), 3), "modem": modem, "kind": kind})
        urc = rng.choice(self.sim.ports[modem].modem.profile.vendor_urcs + OTHER_URCS)
        if kind == "hang":
            self.control(modem, "hang", seconds=rng.uniform(2, 15))
        elif kind == "unplug":
            self.control(modem, "unplug", replug_after=rng.uniform(0.5, 8))
        elif kind == "reset":
            self.control(modem, "reset")
        elif kind == "noise":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(3, 40)))
            self.control(modem, "garbage", hex=(data + (b"\r\n" if rng.random() < 0.5 else b"")).hex())
        elif kind == "vendor_noise":
            self.control(modem, "vendor_noise", interval=rng.uniform(0.2, 1.0), seed=rng.randrange(1 << 30))
            self.later(rng.uniform(10, 40), lambda: self.control(modem, "vendor_noise", interval=0))
        elif kind == "urc_midresponse":
            self.control(modem, "urc_midresponse", line=urc)
        elif kind == "urc_inside_pair":
            self.control(modem, "urc_inside_pair", line=urc)
        elif kind == "storage_full":
            self.control(modem, "storage_full", on=True)
            self.later(rng.uniform(5, 25), lambda: self.control(modem, "storage_full", on=False))
        elif kind == "cms_transient":
            self.control(modem, "cms_error", code=rng.choice([500, 314, 332, 42, 322, 512]),
                         times=rng.randint(1, 2))
        elif kind == "cme_error":
            self.control(modem, "cme_error", code=rng.choice([100, 515, 14]), times=1)
        elif kind == "no_network":
            self.control(modem, "no_network", on=True)
            self.later(rng.uniform(3, 15), lambda: self.control(modem, "no_network", on=False))
        elif kind == "no_prompt":
            self.control(modem, "no_prompt", times=1)
        elif kind == "split_lines":
            self.control(modem, "split_lines", on=True)
            self.later(rng.uniform(5, 20), lambda: self.control(modem, "split_lines", on=False))
        elif kind == "trailing_zero":
            self.control(modem, "pdu_trailing_zero", on=True)
            self.later(rng.uniform(10, 60), lambda: self.control(modem, "pdu_trailing_zero", on=False))
        elif kind == "latency":
            self.control(modem, "set_latency", seconds=rng.uniform(0.2, 1.0))
            self.later(rng.uniform(5, 20), lambda: self.control(modem, "set_latency", seconds=0.005))
        elif kind == "barred":
            self.rested.add(modem)
            self.control(modem, "barred", code=rng.choice([8, 10, 50]))
            self.later(30, lambda: self.control(modem, "barred", code=None))
        elif kind == "network_error":
            self.rested.add(modem)
            self.control(modem, "cms_error", code=38, times=1)

    def heal(self) -> None:
        """Undo everything still in force: the soak ends on a healthy environment."""
        self.run_due(everything=True)
        for name, port in self.sim.ports.items():
            self.control(name, "hang", seconds=0.01)
            self.control(name, "no_network", on=False)
            if not port.plugged:
                port.replug()
