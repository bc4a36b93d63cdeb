"""hw-test/leds and hw-test/power-cycle on gpiozero's mock pins: the patterns lit, the LED showing the
probed modem's state, and a power cycle through a mock relay wired to a virtual modem's supply
bringing a hung modem back; faults fail fast with their reason."""

from __future__ import annotations

import json
import os

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from modem.diagnostics import ANSWERS, PORT, CheckOptions, Status, run_checks
from modem.gpio import PowerSettings
from modem.power_checks import power_cycle_steps, wire_mock_relay

from .test_hw_test import FAULTS, fails_fast, faulty_port, hw_test

pytestmark = pytest.mark.timeout(120)
MOCK_PINS = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}  # the script's own process gets mock pins


@pytest.fixture
def pins():
    previous = Device.pin_factory
    yield
    if Device.pin_factory is not None:
        Device.pin_factory.reset()
    Device.pin_factory = previous


def test_leds_light_each_pattern_and_show_the_modems_state(sim):
    result, _ = hw_test("leds", "--port", sim.ports["sim1"].path, "--led-pin", "17", "--system-led-pin", "4",
                        "--show-s", "0.05", "--json", env=MOCK_PINS)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["LED patterns"]["detail"].startswith("steady, blink, fast blink, off")
    assert checks["LED shows the modem's state"]["detail"] == "steady for ready"
    assert checks["system LED"]["detail"] == "GPIO4: three heartbeat flashes"
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr


@pytest.mark.parametrize("fault, shown", [("no SIM", "fast blink for sim error"), ("no network", "fast blink for sim error"),
                                          ("hang", "fast blink for hung"), ("missing port", "fast blink for disconnected")])
def test_leds_fail_on_a_fault_and_the_led_shows_it(sim, tmp_path, fault, shown):
    result, seconds = hw_test("leds", "--port", faulty_port(sim, tmp_path, fault), "--led-pin", "17",
                              "--show-s", "0.05", *FAULTS[fault][1], env=MOCK_PINS)
    fails_fast(result, seconds, fault)
    assert f"PASS LED shows the modem's state: {shown}" in result.stdout


def test_leds_without_gpio_fail_with_the_fix(sim):
    env = {**os.environ}
    env.pop("GPIOZERO_PIN_FACTORY", None)  # this machine has no GPIO: the pin cannot be opened
    result, _ = hw_test("leds", "--port", sim.ports["sim1"].path, "--led-pin", "17", env=env)
    assert result.returncode == 1
    assert "FAIL status LED: GPIO17 cannot be opened; fix: check the pin number" in result.stdout
    assert "SKIP LED patterns: needs status LED" in result.stdout and "Traceback" not in result.stderr


def test_a_power_cycle_brings_a_hung_modem_back(pins, sim):
    modem = sim.ports["sim1"].modem
    supply = wire_mock_relay(modem, 27, 22)
    relay_pin = Device.pin_factory.pin(27)
    try:
        modem.hang()  # answers nothing until its power is cut
        checks = list(run_checks(CheckOptions(port=sim.ports["sim1"].path, answer_timeout=0.5), (PORT, ANSWERS),
                                 power_cycle_steps(PowerSettings(kind="relay", pin=27, off_s=0.2), back_timeout=10)))
    finally:
        supply.close()
    by_name = {c.name: c for c in checks}
    assert by_name["modem answers"].status is Status.FAIL
    assert by_name["power switch"].passed and by_name["power cut and restored"].passed
    assert by_name["modem answers again"].passed, by_name["modem answers again"]
    assert [s.state for s in relay_pin.states][-2:] == [False, True]  # off, then on again
    assert not modem.status()["hung"]


def test_power_cycle_without_a_switch_or_a_port_fails_fast(sim, tmp_path):
    result, seconds = hw_test("power-cycle", "--port", sim.ports["sim1"].path, env=MOCK_PINS)
    assert result.returncode == 1 and seconds < 10
    assert "FAIL power switch: none given; fix: name it: --power-pin N" in result.stdout
    assert "SKIP power cut and restored: needs power switch" in result.stdout
    result, seconds = hw_test("power-cycle", "--port", faulty_port(sim, tmp_path, "missing port"), "--power-pin", "27",
                              env=MOCK_PINS)
    lines = fails_fast(result, seconds, "missing port")
    assert lines[-3:] == ["SKIP power switch: needs port", "SKIP power cut and restored: needs power switch",
                          "SKIP modem answers again: needs power cut and restored"]


def test_a_modem_that_does_not_come_back_fails_with_the_wiring_fix(sim):
    # the relay on a mock pin feeds nothing: the modem stays hung through the cycle
    sim.ports["sim1"].modem.hang()
    result, seconds = hw_test("power-cycle", "--port", sim.ports["sim1"].path, "--power-pin", "27", "--off-s", "0.1",
                              "--back-timeout", "2", *FAULTS["hang"][1], env=MOCK_PINS)
    assert result.returncode == 1 and seconds < 15  # the answer wait, the 2 s it may take to come back
    assert "FAIL modem answers again: no answer within 2 s of the power coming back; fix: check the switch" in result.stdout
