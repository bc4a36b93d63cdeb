"""The virtual modem: a GSM modem with a virtual SIM and SMS memory, bytes in (`feed`), bytes out
(the `output` callback).

It is a state machine with no I/O and no threads of its own, so it can be driven by a pty server, a
TCP socket or a unit test alike. Everything that takes time (answer latency, registration, USSD
replies, status reports, hangs, Huawei's periodic noise, +CNMA re-delivery) is a callback on the
`Scheduler` it is given. All entry points take the modem's lock, so the scheduler thread and the
port's reader thread never interleave inside the interpreter.

`VirtualModem` holds the state and power; its four jobs are in their own modules:

    line.py          the byte line discipline (echo, command lines, "> " bodies, answers in order)
    commands.py      the AT command handlers (+ setting_commands.py for the host settings,
                     sim_commands.py for SIM, power and registration, sms_commands.py for SMS
                     memory and sending, ussd_service.py for AT+CUSD and the network's USSD answers)
    delivery.py      network delivery (registration, incoming SMS and status reports, their URCs)
    faults.py        the control API (fault injection, run-time switches)

Behaviour follows 3GPP TS 27.005/27.007 plus the per-model quirks in `profiles.py`, each taken
from the vendor's AT manual or a real unit's answers.
"""

from __future__ import annotations

import threading
from random import Random
from typing import Callable

from modem.encoding import from_gsm_text, to_gsm_text
from modem.virtual.commands import AtCommands
from modem.virtual.delivery import NetworkDelivery
from modem.virtual.faults import ControlApi, _Fault
from modem.virtual.line import LineDiscipline, Prompt
from modem.virtual.network import VirtualNetwork, normalize
from modem.virtual.profiles import Profile, get_profile
from modem.virtual.scheduler import Scheduler, Timer
from modem.virtual.setting_commands import SettingCommands
from modem.virtual.sim_commands import SimCommands
from modem.virtual.sms_commands import SmsCommands
from modem.virtual.storage import Storage
from modem.virtual.texts import from_ucs2_hex, luhn, ucs2_hex
from modem.virtual.ussd_service import UssdService

DEFAULT_USSD_REPLY = "Your balance is 5.00 GBP. RING 123 for offers"


class VirtualModem(LineDiscipline, AtCommands, SettingCommands, SimCommands, SmsCommands, UssdService,
                   NetworkDelivery, ControlApi):
    """A GSM modem with a virtual SIM on a `VirtualNetwork`.

    Control methods (`inject_sms`, `hang`, `cms_error`, ...) are safe to call from any thread.
    """

    def __init__(
        self,
        name: str = "modem",
        profile: str | Profile = "sim800",
        *,
        network: VirtualNetwork | None = None,
        scheduler: Scheduler | None = None,
        output: Callable[[bytes], None] | None = None,
        msisdn: str | None = None,
        pin: str = "1234",
        puk: str = "12345678",
        sim: str = "ready",
        latency: float = 0.0,
        send_delay: float = 0.0,
        register_delay: float = 0.2,
        cnma_timeout: float = 10.0,
        ussd_delay: float = 0.2,
        ussd_reply: str | None = DEFAULT_USSD_REPLY,
        roaming: bool = False,
        line_gap: float = 0.05,
        chunk_delay: float = 0.003,
        noise_interval: float | None = None,
        power_on: bool = True,
        startup: float = 0.0,
    ) -> None:
        self.name = name
        self.profile = get_profile(profile)
        self._own_network = network is None
        self.network = network if network is not None else VirtualNetwork(scheduler=scheduler)
        self.sched: Scheduler = scheduler if scheduler is not None else self.network.scheduler
        self.output: Callable[[bytes], None] = output or (lambda data: None)
        self.msisdn = self.network.attach(self, msisdn)
        serial = int(normalize(self.msisdn)[-7:])
        self.imei = luhn(f"8612340{serial:07d}")
        self.imsi = f"23415{serial:010d}"
        self.iccid = luhn(f"894415{serial:013d}")
        self.pin, self.puk = pin, puk
        self.latency = latency
        self.send_delay = send_delay
        self.register_delay = register_delay
        self.cnma_timeout = cnma_timeout
        self.ussd_delay = ussd_delay
        self.ussd_text = ussd_reply  # None: the network never answers
        self.ussd_status = 0  # the <m> of the network's answer
        self.ussd_open = False  # a USSD session the host has not closed (AT+CUSD=2)
        self.ussd_requests: list[str] = []  # codes as the network got them
        self.roaming = roaming
        self.line_gap = line_gap
        self.chunk_delay = chunk_delay
        self.noise_interval = self.profile.noise_interval if noise_interval is None else noise_interval
        # seconds after boot: +CPIN: NOT READY for the first half, SMS commands refused until the end
        self.startup = startup
        self.reset_hook: Callable[[], None] | None = None  # set by the port: USB re-enumeration
        # DTR: a host has the port open (the port says; a modem with no port has one). Without it
        # nothing is routed to the host as +CMT: the SMS is stored, as 27.005 says of an inactive TE
        # ("message receiving should be done as specified in 3GPP TS 23.038")
        self.host_present: Callable[[], bool] = lambda: True
        self._lock = threading.RLock()
        cap = self.profile.capacity
        self.storages = {n: Storage(n, c, self.profile.first_index) for n, c in cap.items()}
        self._mr = 0
        self._gen = 0
        self.powered = False
        # SIM: present? PIN lock enabled? current state "ready" | "pin" | "puk" | "missing"
        self._sim_present = sim != "missing"
        self._pin_enabled = sim in ("pin", "puk")
        self.sim_state = sim
        self._pin_tries, self._puk_tries = 3, 10
        self.pin_attempts = 0  # every AT+CPIN=<code> the SIM was given, ever (tests count them)
        # Faults and run-time switches (survive reboots: they model the environment).
        self._faults: dict[str, list[_Fault]] = {}
        self._no_network = False
        self._denied, self._reject_cause = False, None  # registration_denied (faults.py)
        self._hung_until: float | None = None
        self._hung_forever = False
        self._mid_urcs: list[str] = []
        self._pdu_trailing_zero = False
        self._vendor_noise: Random | None = None
        self._pair_urcs: list[str] = []
        self._split = False
        self._no_prompt = 0
        self._out_until = 0.0
        self._waiting_network: list[Callable[[], None]] = []
        self._waiting_space: list[str] = []
        self._barred: int | None = None  # +CMS ERROR code every send from this SIM gets
        self._refused_numbers: dict[str, int] = {}  # normalised number -> +CMS ERROR code
        self._waiting_reports: list[str] = []
        self.reports_discarded = 0  # status reports that came while CNMI said not to route them (ds=0)
        # each SMS-DELIVER handed to the host: (epoch, "cmt" | "stored" | "memory_full", PDU), so a
        # soak can say of a lost SMS when and how the modem gave it over
        self.deliveries: list[tuple[float, str, str]] = []
        self._reset_settings()
        if power_on:
            self.boot()

    # -- power -------------------------------------------------------------------------------------
    def _reset_settings(self) -> None:
        """Volatile settings a power cycle or ATZ restores."""
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cscs = "GSM"
        self.cusd_n = 0
        self.csms = 0
        self.cnmi = list(self.profile.cnmi_default)
        self.creg_n = self.cgreg_n = self.cereg_n = 0
        self.cops_format = 0
        self.curc = 1
        self.csmp = [17, 167, 0, 0]
        self.cpms = ["SM", "SM", "SM"]
        self.smsc = self.network.smsc

    def boot(self) -> None:
        """Power on: echo on, defaults, boot noise, SIM check, then network registration."""
        with self._lock:
            self._gen += 1
            self.powered = True
            self._reset_settings()
            self.cfun = 1
            self._mode = "cmd"
            self._line = bytearray()
            self._body = bytearray()
            self._prompt: Prompt | None = None
            self._last_cr = False
            self._busy = False
            self._inbuf = bytearray()
            self._urc_buffer: list[list[str]] = []
            self._drop_acks()
            self._hung_until, self._hung_forever = None, False
            self._out_until = 0.0
            self.reg_stat = 0
            self._full_announced = False
            now = self.sched.now()
            self._sim_ready_at, self._sms_ready_at = now + self.startup / 2, now + self.startup
            self._sms_starting = False  # its end is scheduled at registration (delivery.py)
            if not self._sim_present:
                self.sim_state = "missing"
            elif self._pin_enabled:
                self.sim_state = "puk" if self.sim_state == "puk" else "pin"
            else:
                self.sim_state = "ready"
            cpin = {"ready": "READY", "pin": "SIM PIN", "puk": "SIM PUK", "missing": "NOT INSERTED"}
            words = {"cpin": cpin[self.sim_state], "simst": 255 if self.sim_state == "missing" else 1}
            for delay, line in self.profile.boot_lines:
                text = line.format(**words)
                self._later(delay, lambda text=text: self._emit_lines([text]))
            if self.sim_state == "ready":
                self._start_registration()
            if self.profile.noise:
                self._later(self.noise_interval, lambda: self._noise(0))

    def power_off(self) -> None:
        """Like pulling the plug: nothing more comes out, pending answers are lost."""
        with self._lock:
            self._gen += 1
            self.powered = False
            self.reg_stat = 0
            self._drop_acks()

    def power_input(self, on: bool) -> None:
        """The modem's supply line, for a power switch under test: off cuts the power like a pulled
        plug (a hung modem forgets its hang), on boots a modem that was off. Wire a GPIO pin to it,
        e.g. gpiozero's MockConnectedPin driving a DigitalInputDevice whose when_activated and
        when_deactivated call this with True and False."""
        if not on:
            self.power_off()
        elif not self.powered:
            self.boot()

    def close(self) -> None:
        self.power_off()
        self.network.detach(self)
        if self._own_network:
            self.network.close()

    def _later(self, delay: float, fn: Callable[[], None]) -> Timer:
        """Schedule `fn` under the lock, dropped if the modem rebooted or lost power meanwhile."""
        gen = self._gen

        def run() -> None:
            with self._lock:
                if self._gen == gen and self.powered:
                    fn()

        return self.sched.call_later(delay, run)

    # -- text and state shared by the jobs ---------------------------------------------------------
    def _text_out(self, text: str) -> str:
        """Text in the character set the host chose with AT+CSCS: UCS2 as hex, GSM as one septet
        value per byte (`@` is NUL, `£` 0x01), IRA as it is."""
        if self.cscs == "UCS2":
            return ucs2_hex(text)
        return to_gsm_text(text) if self.cscs == "GSM" else text

    def _text_in(self, text: str) -> str:
        if self.cscs == "UCS2":
            return from_ucs2_hex(text)
        return from_gsm_text(text) if self.cscs == "GSM" else text

    @property
    def registered(self) -> bool:
        return self.reg_stat in (1, 5)
