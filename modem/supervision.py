"""What a modem's supervisor is given and shows: its settings (from the config's [[modems]]), the
states it reports, and the things it is handed (time, a status LED, a power switch)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from modem import discovery


class ModemState(str, Enum):
    CONNECTING = "connecting"
    INITIALISING = "initialising"
    READY = "ready"
    NO_NETWORK = "no_network"
    SIM_ERROR = "sim_error"
    OUT_OF_ROTATION = "out_of_rotation"  # answers, but its SIM or network refuses sends for now
    DISCONNECTED = "disconnected"
    HUNG = "hung"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ModemSettings:
    """What one modem's supervisor, its session and its port need to know: the config's [[modems]]
    entry is one (`gateway.core.config_sections.ModemSection` adds the gateway's keys), so each field a
    config key has is named as that key."""

    name: str
    port: str = ""  # may be empty when imei or iccid names the modem
    imei: str = ""  # the modem must have this IMEI; looked for among `scan` when port is empty or wrong
    iccid: str = ""  # ... or hold the SIM with this ICCID
    scan: tuple[str, ...] = discovery.DEFAULT_SCAN  # where a modem named by identity is looked for
    baudrate: int = 115200
    rtscts: bool = False
    pin: str = ""
    smsc: str = ""
    concat_ref16: bool = False  # 16-bit concatenation references for long SMS
    command_timeout_s: float = 5.0
    send_timeout_s: float = 60.0
    prompt_timeout_s: float = 10.0  # AT+CMGS to the modem's "> "; longer on a slow or busy modem
    check_interval_s: float = 10.0  # how often registration and signal are read (and a hang shows)
    registration_timeout_s: float = 60.0
    registration_poll_s: float = 1.0  # how often registration is read while it is waited for
    power_cycles_per_hour: int = 3  # the recovery ladder's power cycles allowed in any hour
    # not config keys: the modem layer's own timings
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 5.0)
    boot_s: float = 10.0  # how long the modem takes to start after AT+CFUN=1,1 or a power cycle
    rest_s: float = 900.0  # how long a SIM whose sends its SIM or network refused stays out of rotation
    startup_window: float = 30.0  # how long a starting modem's "not yet" answers are waited out


class Timing(Protocol):
    """Time for backoff and rest periods (the gateway's Clock fits; tests move a fake one)."""

    def time(self) -> float: ...

    def wait(self, wake: threading.Event, seconds: float) -> bool: ...


class Indicator(Protocol):
    """Shows a modem's state (a status LED): the state's value, and whether a send is under way."""

    def show(self, state: str, sending: bool) -> None: ...


class PowerSwitch(Protocol):
    """Cuts the modem's power and restores it (a relay, its PWRKEY, a USB hub port)."""

    def cycle(self) -> None: ...


class RealTime:
    """The wall clock, for a supervisor not given one."""

    def time(self) -> float:
        return time.time()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(max(0.0, seconds))
