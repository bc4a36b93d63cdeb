"""The recovery ladder (modem/recovery.py): which step follows how many failures, within its limits."""

from __future__ import annotations

import pytest

from modem.recovery import HOUR, RecoveryPolicy, Step, next_step

POWERED = RecoveryPolicy(backoff=(0.5, 1.0, 2.0, 4.0, 5.0), can_power_cycle=True, power_cycles_per_hour=2, boot_s=10.0)


@pytest.mark.parametrize("failures, step", [(1, Step.RESYNC), (2, Step.RESET), (3, Step.REOPEN),
                                            (4, Step.POWER_CYCLE), (5, Step.RESYNC), (8, Step.POWER_CYCLE)])
def test_each_failure_climbs_one_rung_and_the_ladder_starts_again(failures, step):
    assert next_step(failures, [], 0.0, POWERED).step is step


def test_without_a_power_switch_the_ladder_has_three_rungs():
    plain = RecoveryPolicy()
    assert [next_step(n, [], 0.0, plain).step for n in range(1, 5)] == [Step.RESYNC, Step.RESET, Step.REOPEN,
                                                                        Step.RESYNC]
    assert next_step(3, [], 0.0, plain).rungs == 3


def test_a_vanished_port_is_only_reopened_or_power_cycled():
    steps = [next_step(n, [], 0.0, POWERED, port_present=False).step for n in range(1, 5)]
    assert steps == [Step.REOPEN, Step.POWER_CYCLE, Step.REOPEN, Step.POWER_CYCLE]


def test_backoff_grows_with_failures_and_a_restart_waits_for_the_boot():
    assert next_step(1, [], 0.0, POWERED).delay == 0.5
    assert next_step(2, [], 0.0, POWERED).delay == 10.0  # AT+CFUN=1,1: the modem needs boot_s
    assert next_step(3, [], 0.0, POWERED).delay == 2.0
    assert next_step(4, [], 0.0, POWERED).delay == 10.0
    assert next_step(9, [], 0.0, POWERED).delay == 5.0


def test_power_cycles_are_limited_per_hour():
    now = 10 * HOUR
    limited = next_step(4, [now - 100, now - 50], now, POWERED)
    assert limited.step is Step.REOPEN and "2 in the last hour (limit 2)" in limited.note
    assert limited.delay == 5.0
    assert next_step(4, [now - HOUR - 1, now - 50], now, POWERED).step is Step.POWER_CYCLE


def test_the_step_line_says_what_is_done_and_why():
    plan = next_step(4, [], 0.0, POWERED)
    assert plan.line("sim1", 4) == "sim1: recovery step 4/4: power cycle after 4 failed attempts"
