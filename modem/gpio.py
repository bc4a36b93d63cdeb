"""The modems' hardware around the serial port: status LEDs, the system LED, power switches.

Everything goes through gpiozero, so a test sets `gpiozero.Device.pin_factory = MockFactory()` and the
same code drives mock pins. Nothing here is required: with no pins configured no GPIO is touched, and
a pin that cannot be opened (no GPIO on this machine, a pin in use) is logged and left out, so the
gateway runs unchanged without GPIO.

LED patterns (`led_pattern`): steady = registered, blink = sending, fast blink = fault, off otherwise.
Power switches (`cycle()` cuts the modem's power and restores it):
- relay: an output that powers the modem while on; off for `off_s`, then on again;
- pwrkey: the modem's PWRKEY line pressed (`hold_s`) to switch it off, and again to switch it on;
- uhubctl: the USB hub port the modem sits on, cycled by `uhubctl -l LOCATION -p PORT -a cycle`.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

log = logging.getLogger("gsmgw.gpio")

FAULT_STATES = frozenset({"hung", "disconnected", "sim_error"})
POWER_KINDS = ("relay", "pwrkey", "uhubctl")
Sleep = Callable[[float], None]


class Pattern(Enum):
    """(on seconds, off seconds) of a blink; steady and off have none."""

    OFF = None
    STEADY = (1.0, 0.0)
    BLINK = (0.5, 0.5)
    FAST_BLINK = (0.1, 0.1)


def led_pattern(state: str, sending: bool) -> Pattern:
    """What a modem's LED shows for its supervisor's state (ModemState's value)."""
    if state in FAULT_STATES:
        return Pattern.FAST_BLINK
    if state == "ready":
        return Pattern.BLINK if sending else Pattern.STEADY
    return Pattern.OFF


class PowerSwitch(Protocol):
    def cycle(self) -> None:
        """Cut the modem's power and restore it (blocks for the off time)."""


def _device(kind: Callable[..., Any], pin: int, what: str, **kwargs: Any) -> Any | None:
    """A gpiozero device, or None (logged) where the pin cannot be had: no GPIO, pin busy."""
    try:
        with warnings.catch_warnings():  # gpiozero warns of each pin library it could not load
            warnings.simplefilter("ignore")
            return kind(pin, **kwargs)
    except Exception as exc:  # gpiozero raises its own errors, OSError and RuntimeError by pin factory
        log.warning("%s on GPIO%d not available (%s); running without it", what, pin, exc)
        return None


class StatusLed:
    """A modem's LED; `show` changes the LED only when the pattern changes."""

    def __init__(self, pin: int) -> None:
        from gpiozero import LED

        self.pin = pin
        self.led = _device(LED, pin, "status LED")
        self.pattern: Pattern | None = None
        self._lock = threading.Lock()  # the supervisor and the sending worker both call show()

    def show(self, state: str, sending: bool) -> None:
        pattern = led_pattern(state, sending)
        with self._lock:
            if pattern is self.pattern or self.led is None:
                return
            self.pattern = pattern
            self.light(pattern)

    def light(self, pattern: Pattern) -> None:
        """Show `pattern` now (hw-test/leds shows each in turn; the supervisor goes through show)."""
        if pattern is Pattern.OFF:
            self.led.off()
        elif pattern is Pattern.STEADY:
            self.led.on()
        else:
            on, off = pattern.value
            self.led.blink(on_time=on, off_time=off, background=True)

    def close(self) -> None:
        if self.led is not None:
            self.led.close()


class SystemLed:
    """The box's LED: one short flash per watchdog feed, so a steady heartbeat means all is alive."""

    FLASH_S = 0.1

    def __init__(self, pin: int) -> None:
        from gpiozero import LED

        self.pin = pin
        self.led = _device(LED, pin, "system LED")

    def beat(self) -> None:
        if self.led is not None:
            self.led.blink(on_time=self.FLASH_S, off_time=0.0, n=1, background=True)

    def close(self) -> None:
        if self.led is not None:
            self.led.close()


class RelayPower:
    """A relay (or MOSFET) in the modem's supply: on powers the modem."""

    def __init__(self, pin: int, *, off_s: float = 5.0, active_high: bool = True, sleep: Sleep = time.sleep) -> None:
        from gpiozero import DigitalOutputDevice

        self.off_s = off_s
        self._sleep = sleep
        self.output = _device(DigitalOutputDevice, pin, "power relay", active_high=active_high, initial_value=True)

    def cycle(self) -> None:
        if self.output is None:
            raise OSError("power relay not available")
        self.output.off()
        self._sleep(self.off_s)
        self.output.on()

    def close(self) -> None:
        if self.output is not None:
            self.output.close()


class PwrkeyPower:
    """The modem's PWRKEY through a transistor (on = pressed): a press switches it off, another on."""

    def __init__(self, pin: int, *, off_s: float = 5.0, hold_s: float = 1.5, active_high: bool = True,
                 sleep: Sleep = time.sleep) -> None:
        from gpiozero import DigitalOutputDevice

        self.off_s, self.hold_s = off_s, hold_s
        self._sleep = sleep
        self.output = _device(DigitalOutputDevice, pin, "PWRKEY", active_high=active_high, initial_value=False)

    def _press(self) -> None:
        self.output.on()
        self._sleep(self.hold_s)
        self.output.off()

    def cycle(self) -> None:
        if self.output is None:
            raise OSError("PWRKEY not available")
        self._press()
        self._sleep(self.off_s)
        self._press()

    def close(self) -> None:
        if self.output is not None:
            self.output.close()


def uhubctl_command(location: str, port: int, off_s: float, program: str = "uhubctl") -> list[str]:
    """The uhubctl call that switches a hub port off for `off_s` seconds and on again."""
    return [program, "-l", location, "-p", str(port), "-a", "cycle", "-d", f"{off_s:g}"]


class UsbHubPower:
    """The USB hub port's power, through uhubctl (hubs with per-port power switching; a Pi 4's own)."""

    def __init__(self, location: str, port: int, *, off_s: float = 5.0, program: str = "uhubctl",
                 run: Callable[..., Any] = subprocess.run) -> None:
        self.command = uhubctl_command(location, port, off_s, program)
        self._run = run
        self.timeout = off_s + 30.0

    def cycle(self) -> None:
        result = self._run(self.command, capture_output=True, text=True, timeout=self.timeout)
        if result.returncode != 0:
            raise OSError(f"{' '.join(self.command)}: exit {result.returncode}: {(result.stderr or '').strip()}")

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class PowerSettings:
    """One modem's power switch, from its [[modems]] keys."""

    kind: str = "relay"  # relay | pwrkey | uhubctl
    pin: int | None = None
    active_high: bool = True
    off_s: float = 5.0
    uhub_location: str = ""
    uhub_port: int | None = None

    @property
    def configured(self) -> bool:
        return self.pin is not None if self.kind in ("relay", "pwrkey") else bool(self.uhub_location)


def power_switch(settings: PowerSettings, sleep: Sleep = time.sleep) -> Any | None:
    """The switch the settings describe, or None when the modem has none (or its pin can't be had)."""
    if not settings.configured:
        return None
    if settings.kind == "uhubctl":
        return UsbHubPower(settings.uhub_location, settings.uhub_port or 1, off_s=settings.off_s)
    kind = RelayPower if settings.kind == "relay" else PwrkeyPower
    switch = kind(settings.pin, off_s=settings.off_s, active_high=settings.active_high, sleep=sleep)  # type: ignore[arg-type]
    return switch if switch.output is not None else None
