"""GPIO with gpiozero's mock pins: LED patterns per state, the system LED's heartbeat, the power
switches, and the recovery ladder's power cycle bringing a hung virtual modem back into service.

The virtual modem's power input (`VirtualModem.power_input`) is wired to the relay's mock pin the way
a relay feeds a real modem: gpiozero's MockConnectedPin drives an input pin, and a DigitalInputDevice
on it switches the modem off and on.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero import Device, DigitalInputDevice
from gpiozero.pins.mock import MockConnectedPin, MockFactory

from gateway.core.clock import FakeClock
from gateway.core.liveness import Liveness
from gateway.core.sd_notify import Notifier, Watchdog
from gateway.sims import status
from modem import gpio
from modem.gpio import Pattern, PowerSettings, StatusLed, SystemLed, led_pattern
from modem.supervisor import ModemState, ModemSupervisor

from .modem_helpers import Inbox, fast_settings, wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pins():
    """gpiozero's mock pin factory for the test, the real default restored after it."""
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def toggles(pin) -> int:
    """Changes since the pin's states were cleared (a mock pin records changes only)."""
    return len(pin.states) - 1


def gaps(pin) -> list[float]:
    """Seconds between changes once the pattern runs (each PinState's timestamp is the time since the
    change before it; the first change comes as the LED switches pattern)."""
    return [state.timestamp for state in pin.states[2:]]


@pytest.mark.parametrize(("state", "sending", "pattern"), [
    ("ready", False, Pattern.STEADY), ("ready", True, Pattern.BLINK), ("hung", False, Pattern.FAST_BLINK),
    ("disconnected", False, Pattern.FAST_BLINK), ("sim_error", False, Pattern.FAST_BLINK),
    ("connecting", False, Pattern.OFF), ("no_network", False, Pattern.OFF), ("stopped", False, Pattern.OFF),
])
def test_led_pattern_per_state(state, sending, pattern):
    assert led_pattern(state, sending) is pattern


def test_the_status_led_shows_each_pattern_on_its_pin(pins):
    led = StatusLed(17)
    try:
        show_each_pattern(led, pins.pin(17))
    finally:
        led.close()


def show_each_pattern(led: StatusLed, pin) -> None:
    led.show("ready", False)
    assert pin.state and led.led._blink_thread is None  # steady
    led.show("ready", True)
    pin.clear_states()
    wait_until(lambda: toggles(pin) >= 5, 15, "blinking")
    assert min(gaps(pin)) > 0.3  # 0.5 s on, 0.5 s off (a busy machine only makes a gap longer)
    led.show("hung", False)
    pin.clear_states()
    wait_until(lambda: toggles(pin) >= 8, 15, "fast blinking")  # 0.1 s on, 0.1 s off
    fast = sorted(gaps(pin))
    assert fast[len(fast) // 2] < 0.3  # most gaps: one the busy machine stretched does not count
    led.show("connecting", False)
    assert not pin.state and led.led._blink_thread is None


def test_the_system_led_flashes_at_each_feed_and_not_while_a_thread_is_stale(pins):
    clock = FakeClock()
    liveness = Liveness(clock)
    liveness.register("engine", 10.0)
    watchdog = Watchdog(Notifier({}), liveness, clock, lambda: "1 modem ready")
    system = SystemLed(4)
    watchdog.fed.append(system.beat)
    pin = pins.pin(4)
    assert watchdog.beat()
    wait_until(lambda: toggles(pin) >= 2, 10, "one flash")  # on, then off again
    pin.clear_states()
    clock.advance(11)  # the engine made no progress: no feed, no flash
    assert not watchdog.beat()
    assert toggles(pin) == 0 and not pin.state
    system.close()


def test_pwrkey_presses_twice_and_a_relay_goes_off_and_on(pins):
    key = gpio.power_switch(PowerSettings(kind="pwrkey", pin=5, off_s=0.0), sleep=lambda s: None)
    pin = pins.pin(5)
    pin.clear_states()
    key.cycle()
    assert [s.state for s in pin.states] == [False, True, False, True, False]
    relay = gpio.power_switch(PowerSettings(kind="relay", pin=6, off_s=0.0, active_high=False), sleep=lambda s: None)
    relay_pin = pins.pin(6)
    assert relay_pin.state is False  # active low: powered
    relay.cycle()
    assert [s.state for s in relay_pin.states][-2:] == [True, False]


def test_a_usb_hub_port_is_cycled_with_uhubctl(tmp_path):
    calls = tmp_path / "calls"
    program = tmp_path / "uhubctl"
    program.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    program.chmod(0o755)
    switch = gpio.UsbHubPower("1-1.3", 2, off_s=3.0, program=str(program))
    switch.cycle()
    assert calls.read_text() == "-l 1-1.3 -p 2 -a cycle -d 3\n"
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 'No compatible devices detected!' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(OSError, match="No compatible devices detected"):
        gpio.UsbHubPower("1-1", 1, program=str(failing)).cycle()


def test_without_gpio_the_leds_and_switches_are_left_out():
    """A machine with no GPIO: gpiozero finds no pin factory; nothing fails, nothing is switched."""
    code = ("from modem import gpio; led = gpio.StatusLed(17); led.show('ready', False); "
            "print(led.led, gpio.power_switch(gpio.PowerSettings(pin=27)))")
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "no-such-factory"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]
    assert "status LED on GPIO17 not available" in done.stderr


@pytest.fixture
def sim_options() -> dict:
    return {"profile": "sim800"}


def test_the_status_led_follows_the_supervisor(pins, sim):
    led = StatusLed(17)
    pin = pins.pin(17)
    supervisor = ModemSupervisor(fast_settings("sim1", sim.ports["sim1"].path), Inbox(), indicator=led)
    supervisor.start()
    try:
        assert supervisor.wait_ready(15)
        assert led.pattern is Pattern.STEADY and pin.state
        with supervisor.session():
            assert led.pattern is Pattern.BLINK
        assert led.pattern is Pattern.STEADY
        sim.ports["sim1"].unplug()
        wait_until(lambda: led.pattern is Pattern.FAST_BLINK, 10, "fault shown")
    finally:
        supervisor.stop()
        led.close()


def test_the_power_cycle_step_toggles_the_relay_when_a_modem_stays_hung_and_it_is_back_after(pins, sim, caplog):
    modem = sim.ports["sim1"].modem
    relay_pin = pins.pin(27, pin_class=MockConnectedPin, input_pin=pins.pin(22))
    supply = DigitalInputDevice(22)  # the modem's power input, fed by the relay (made first: it pulls the pin low)
    relay = gpio.power_switch(PowerSettings(kind="relay", pin=27, off_s=0.2))
    assert supply.value == 1  # the relay powers the modem
    supply.when_activated = lambda: modem.power_input(True)
    supply.when_deactivated = lambda: modem.power_input(False)
    assert relay is not None and relay_pin.state  # powered from the start
    supervisor = ModemSupervisor(fast_settings("sim1", sim.ports["sim1"].path, boot_s=0.5), Inbox(), power=relay)
    caplog.set_level(logging.INFO, logger="gsmgw.modem")
    supervisor.start()
    try:
        assert supervisor.wait_ready(15)
        relay_pin.clear_states()
        modem.hang()  # answers nothing until its power is cut
        wait_until(lambda: supervisor.state is ModemState.HUNG, 30, "hang noticed")
        shown = wait_until(lambda: status.describe([(supervisor, None)])[0]["recovery"], 10, "a step shown")
        assert shown.startswith("sim1: recovery step 1/4: AT resync after 1 failed attempt")
        wait_until(lambda: "power cycle" in supervisor.recovery, 60, "the power-cycle step")
        wait_until(lambda: supervisor.state is ModemState.READY, 30, "back in service")
        assert [s.state for s in relay_pin.states] == [True, False, True]  # off, then on again
        steps = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "recovery step" in r.getMessage()]
        assert [s.split(": ")[2].split(" after ")[0] for s in steps] == ["AT resync", "AT+CFUN=1,1",
                                                                         "reopen the port", "power cycle"]
        assert steps[-1] == "sim1: recovery step 4/4: power cycle after 4 failed attempts"
        assert supervisor.recovery == ""  # in service: nothing being recovered
        with supervisor.session() as session:
            session.send("+447700900123", "after the power cycle")
        assert [e["text"] for e in sim.network.record.submitted] == ["after the power cycle"]
    finally:
        supervisor.stop()
        relay.close()
        supply.close()
