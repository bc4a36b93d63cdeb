"""The recovery ladder for a modem that stopped answering: which step comes next, and how long to wait.

Each failed connection climbs one rung: AT resync (ESC and `AT` on the open port), `AT+CFUN=1,1`
(the modem restarts itself), reopening the port, and, where the modem has a power switch (a relay,
its PWRKEY or a USB hub port), a power cycle; then the ladder starts again from the bottom. A modem
whose port has vanished cannot be spoken to, so only reopening and the power cycle are tried for it.
Power cycles are limited per hour so a dead modem is not switched on and off all day. Pure logic:
the supervisor passes the failures, the times of earlier power cycles and the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

HOUR = 3600.0


class Step(str, Enum):
    RESYNC = "AT resync"
    RESET = "AT+CFUN=1,1"
    REOPEN = "reopen the port"
    POWER_CYCLE = "power cycle"


LADDER = (Step.RESYNC, Step.RESET, Step.REOPEN, Step.POWER_CYCLE)


@dataclass(frozen=True)
class RecoveryPolicy:
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 5.0)  # before the next connection, by failures
    can_power_cycle: bool = False  # the modem has a power switch (GPIO or USB hub)
    power_cycles_per_hour: int = 3
    boot_s: float = 10.0  # how long a modem takes to start after a reset or a power cycle


@dataclass(frozen=True)
class Plan:
    step: Step
    rung: int  # 1-based place of the step on the ladder in use
    rungs: int
    delay: float  # wait before the next connection attempt
    note: str = ""  # why a rung was passed over

    def line(self, name: str, failures: int) -> str:
        """The log line (and the modem status) for this step."""
        note = f"; {self.note}" if self.note else ""
        return (f"{name}: recovery step {self.rung}/{self.rungs}: {self.step.value} "
                f"after {failures} failed attempt{'s' if failures != 1 else ''}{note}")


def next_step(failures: int, power_cycles: Sequence[float], now: float, policy: RecoveryPolicy,
              *, port_present: bool = True) -> Plan:
    """The step after `failures` (>= 1) failed connections in a row. `power_cycles`: when earlier
    power cycles were made; more than `power_cycles_per_hour` in the last hour are not allowed."""
    ladder = [s for s in LADDER if s is not Step.POWER_CYCLE or policy.can_power_cycle]
    if not port_present:
        ladder = [s for s in ladder if s not in (Step.RESYNC, Step.RESET)]
    step = ladder[(max(failures, 1) - 1) % len(ladder)]
    rung = ladder.index(step) + 1
    delay = policy.backoff[min(max(failures - 1, 0), len(policy.backoff) - 1)]
    note = ""
    if step is Step.POWER_CYCLE:
        recent = sum(1 for t in power_cycles if now - t < HOUR)
        if recent >= policy.power_cycles_per_hour:
            step = Step.REOPEN
            note = f"power cycle skipped: {recent} in the last hour (limit {policy.power_cycles_per_hour})"
            delay = policy.backoff[-1]
    if step in (Step.RESET, Step.POWER_CYCLE):
        delay = max(delay, policy.boot_s)
    return Plan(step, rung, len(ladder), delay, note)
