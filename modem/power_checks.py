"""The hw-test checks of the hardware around a modem (modem/gpio.py): its status LED and the system
LED (`hw-test/leds`), and its power switch (`hw-test/power-cycle`: cut the power, restore it, and
see the modem answer again), as steps after the probe's checks (diagnostics.Step).

A dry run (`--simulate`) drives gpiozero's mock pins, with the relay's pin wired to the virtual
modem's supply (`wire_mock_relay`), so the cycle really switches the virtual modem off and on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from modem import gpio
from modem.diagnostics import ANSWER_TIMEOUT, ANSWERS, PORT, REGISTRATION, Check, Probe, Status, Step
from modem.errors import ModemError
from modem.session import ModemSession
from modem.supervision import ModemSettings
from modem.transport import AtTransport

NO_GPIOZERO = "install gpiozero (sudo apt install python3-gpiozero, or make in the checkout)"
GPIO_FIX = ("check the pin number (BCM, not the header's), that nothing else uses it, and that the user "
            "is in the gpio group (sudo usermod -aG gpio $USER)")
SWITCH, CYCLE, BACK = "power switch", "power cut and restored", "modem answers again"
LED, PATTERNS, LED_STATE, SYSTEM_LED = "status LED", "LED patterns", "LED shows the modem's state", "system LED"


def gpiozero_missing() -> bool:
    try:
        import gpiozero  # noqa: F401
    except ImportError:
        return True
    return False


# ---- power-cycle --------------------------------------------------------------------------------
def power_cycle_steps(settings: gpio.PowerSettings, back_timeout: float) -> Sequence[Step]:
    """Open the switch, cycle it, then wait for the modem to answer on its port again. The cycle
    needs only the port: a modem that is hung before it is what a power cycle is for."""
    state: dict[str, Any] = {}

    def switch(probe: Probe) -> Check:
        if not settings.configured:
            return Check(SWITCH, Status.FAIL, "none given", "name it: --power-pin N (relay or --power pwrkey), "
                         "or --power uhubctl --uhub-location 1-1 --uhub-port 2")
        if settings.kind != "uhubctl" and gpiozero_missing():
            return Check(SWITCH, Status.FAIL, "gpiozero is not installed", NO_GPIOZERO)
        state["switch"] = gpio.power_switch(settings)
        if state["switch"] is None:
            return Check(SWITCH, Status.FAIL, f"{settings.kind} on GPIO{settings.pin} cannot be opened", GPIO_FIX)
        where = (f"{settings.uhub_location} port {settings.uhub_port or 1}" if settings.kind == "uhubctl"
                 else f"GPIO{settings.pin}")
        return Check(SWITCH, Status.PASS, f"{settings.kind} on {where}")

    def cycle(probe: Probe) -> Check:
        probe.transport.close()  # the port goes away with the power (a USB modem re-enumerates)
        started = time.monotonic()
        try:
            state["switch"].cycle()
        except (OSError, ValueError) as exc:
            return Check(CYCLE, Status.FAIL, str(exc), "check the switch: uhubctl installed and the hub able to "
                         "switch ports (uhubctl lists them), or the relay's wiring")
        seconds = round(time.monotonic() - started, 3)
        state["restored"] = time.monotonic()
        return Check(CYCLE, Status.PASS, f"off for {settings.off_s:g} s, on again", seconds=seconds)

    def back(probe: Probe) -> Check:
        seconds = answers_again(probe.options.port, probe.options.baudrate, back_timeout)
        if seconds is None:
            return Check(BACK, Status.FAIL, f"no answer within {back_timeout:g} s of the power coming back",
                         "check the switch feeds this modem (its LED goes off during the cycle) and that it "
                         "boots by itself; a SIM800 on PWRKEY needs the key held 1-2 s")
        return Check(BACK, Status.PASS, f"initialised {seconds:g} s after the power came back", seconds=seconds)

    return (Step(SWITCH, PORT, switch), Step(CYCLE, SWITCH, cycle), Step(BACK, CYCLE, back))


def answers_again(port: str, baudrate: int, timeout: float) -> float | None:
    """Seconds until the modem on `port` opens, answers and initialises again; None after `timeout`."""
    started = time.monotonic()
    while (left := timeout - (time.monotonic() - started)) > 0:
        transport = AtTransport(port, ModemSettings("modem", port=port, baudrate=baudrate))
        try:
            transport.open()
            transport.command("AT", timeout=max(0.1, min(ANSWER_TIMEOUT, left)))
            ModemSession(transport).init()
            return round(time.monotonic() - started, 3)
        except ModemError:
            time.sleep(0.2)  # not back yet: the port is missing or the modem still boots
        finally:
            transport.close()
    return None


def wire_mock_relay(modem: Any, relay_pin: int, supply_pin: int) -> Any:
    """gpiozero's mock pins with `relay_pin` driving the virtual modem's supply (`power_input`), as a
    relay feeds a real modem; returns the supply input (keep it open while the relay is used)."""
    from gpiozero import Device, DigitalInputDevice
    from gpiozero.pins.mock import MockConnectedPin, MockFactory

    Device.pin_factory = MockFactory()
    Device.pin_factory.pin(relay_pin, pin_class=MockConnectedPin, input_pin=Device.pin_factory.pin(supply_pin))
    supply = DigitalInputDevice(supply_pin)
    supply.when_activated = lambda: modem.power_input(True)
    supply.when_deactivated = lambda: modem.power_input(False)
    return supply


# ---- leds ---------------------------------------------------------------------------------------
def led_steps(led_pin: int | None, system_pin: int | None, show_s: float,
              sleep: Callable[[float], None] = time.sleep) -> Sequence[Step]:
    """Light each pattern on the status LED for `show_s` (the technician watches it), then the one
    for the modem's state as probed; flash the system LED as the watchdog's heartbeat does."""
    state: dict[str, Any] = {}

    def opened(name: str, pin: int | None, kind: type) -> Check:
        if pin is None:
            return Check(name, Status.SKIP, "no pin given (--led-pin / --system-led-pin)")
        if gpiozero_missing():
            return Check(name, Status.FAIL, "gpiozero is not installed", NO_GPIOZERO)
        device = kind(pin)
        if device.led is None:
            return Check(name, Status.FAIL, f"GPIO{pin} cannot be opened", GPIO_FIX)
        state[name] = device
        return Check(name, Status.PASS, f"GPIO{pin}")

    def patterns(probe: Probe) -> Check:
        led = state[LED]
        shown = []
        for pattern in (gpio.Pattern.STEADY, gpio.Pattern.BLINK, gpio.Pattern.FAST_BLINK, gpio.Pattern.OFF):
            led.light(pattern)
            shown.append(pattern.name.lower().replace("_", " "))
            sleep(show_s)
        return Check(PATTERNS, Status.PASS, f"{', '.join(shown)}, {show_s:g} s each: watch that the LED did each")

    def modem_state(probe: Probe) -> Check:
        led = state[LED]
        supervisor_state = ("ready" if probe.passed(REGISTRATION) else "sim_error" if probe.passed(ANSWERS)
                            else "hung" if probe.passed(PORT) else "disconnected")
        led.show(supervisor_state, sending=False)
        pattern = led.pattern.name.lower().replace("_", " ")
        detail = f"{pattern} for {supervisor_state.replace('_', ' ')}"
        return Check(LED_STATE, Status.PASS, detail)

    def system(probe: Probe) -> Check:
        """The last step: the LEDs are closed after it (a blinking LED's thread must not outlive them)."""
        try:
            check = opened(SYSTEM_LED, system_pin, gpio.SystemLed)
            if check.passed:
                for _ in range(3):
                    state[SYSTEM_LED].beat()
                    sleep(max(show_s / 3, gpio.SystemLed.FLASH_S * 2))
                check = Check(SYSTEM_LED, Status.PASS, f"GPIO{system_pin}: three heartbeat flashes")
            return check
        finally:
            for device in state.values():
                device.close()

    return (Step(LED, None, lambda probe: opened(LED, led_pin, gpio.StatusLed)), Step(PATTERNS, LED, patterns),
            Step(LED_STATE, LED, modem_state), Step(SYSTEM_LED, None, system))
