"""The AT session: what to say to a modem, on top of the transport.

Init that tolerates real variety (echo, optional commands answered ERROR, SIM PIN tried at most once
per SIM and configured PIN, a modem still starting up that answers "not yet", +CNMI chosen from what
AT+CNMI=? offers), identity and health, sending a message part by part with each part's message
reference, and inbound handling where a stored SMS leaves the SIM only after the handler kept it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from modem import pdu, sim_storage, ussd
from modem.errors import (
    CmeError,
    CommandFailed,
    CommandTimeout,
    MalformedPdu,
    ModemDisconnected,
    ModemError,
    NotRegistered,
    SimError,
    not_ready,
)
from modem.encoding import from_gsm_text
from modem.lines import decode_number, decode_ucs2_hex, parse_fields, parse_ranges, payload_of
from modem.pin import TRIES_COMMANDS, PinMemory, tries_left
from modem.transport import DISCONNECTED, PROMPT_TIMEOUT, AtTransport, Response, Unsolicited

log = logging.getLogger("gsmgw.modem")

# +CNMI settings in order of preference: store SMS and status reports on the SIM (nothing lost if we
# crash before handling them), then direct status reports, then no reports at all. The same order,
# per parameter, picks a setting from what AT+CNMI=? offers (as Gammu does); this list is the fallback.
CNMI_CHOICES = ("2,1,0,2,0", "2,1,0,1,0", "1,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0")
CNMI_PREFERENCE = ((2, 1, 3), (1, 3, 2), (0,), (2, 1, 0), (0, 1))  # mode, mt, bm, ds, bfr
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown",
                5: "roaming", 6: "home", 7: "roaming", 8: "emergency only"}
# What only a boot prints, first thing (SIMCom and Quectel "RDY", SIMCom's 3G/LTE "START"). Not
# `+CFUN: 1`, `+CPIN: READY` or `PB DONE`: a modem prints those again when its SIM is unlocked or its
# phone book is read, and the end of a boot can come after init is done; taking them for a new boot
# sets up a modem that never restarted.
_REBOOT_MARKERS = frozenset({"RDY", "START"})
# The modem's SMS service is up only now: settings it refused or forgot before are made again.
_SMS_READY_MARKERS = frozenset({"SMS Ready", "+QIND: SMS DONE", "+QIND: \"SMS DONE\""})


@dataclass(frozen=True)
class Identity:
    manufacturer: str
    model: str
    firmware: str
    imei: str
    imsi: str | None
    iccid: str | None


@dataclass(frozen=True)
class Signal:
    csq: int | None  # 0-31, None when the modem does not know (99)
    dbm: int | None
    bars: int  # 0-5, for people

    @classmethod
    def from_csq(cls, rssi: int) -> Signal:
        if rssi == 99 or not 0 <= rssi <= 31:
            return cls(None, None, 0)
        dbm = -113 + 2 * rssi
        bars = sum(dbm >= threshold for threshold in (-109, -103, -93, -83, -73))
        return cls(rssi, dbm, bars)


@dataclass(frozen=True)
class Health:
    registration: str
    operator: str | None
    signal: Signal
    smsc: str | None
    storage_used: int | None = None
    storage_total: int | None = None

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")


@dataclass(frozen=True)
class PartSent:
    seq: int
    total: int
    reference: int | None  # TP-MR from +CMGS, matched later against status reports


@dataclass(frozen=True)
class InboundSms:
    """An SMS as it came off the modem: decoded, or kept raw with the reason it could not be."""

    raw_pdu: str
    message: pdu.Deliver | None
    error: str | None = None
    storage_index: int | None = None
    storage: str | None = None  # the memory it was read from ("SM", "SR", ...)


class StorageUnavailable(ModemError):
    """The modem refused to select an SMS memory (AT+CPMS), so its slots are not read or deleted."""


class SendFailed(ModemError):
    """A message could not be sent whole; `sent` lists the parts the network already accepted."""

    def __init__(self, sent: list[PartSent], failed_seq: int, cause: Exception) -> None:
        super().__init__(f"part {failed_seq} failed: {cause}")
        self.sent = sent
        self.failed_seq = failed_seq
        self.cause = cause


class InboundHandler(Protocol):
    """Receives what the modem reports. Returning False keeps the SMS on the SIM (or unacknowledged)."""

    def on_sms(self, modem: str, sms: InboundSms) -> bool: ...

    def on_status_report(self, modem: str, report: pdu.StatusReport) -> bool: ...


class ModemSession:
    """Speaks AT to one modem through an AtTransport."""

    def __init__(
        self,
        transport: AtTransport,
        *,
        pin: str = "",
        smsc: str = "",
        ref16: bool = False,
        send_timeout: float = 60.0,
        prompt_timeout: float = PROMPT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        pin_memory: PinMemory | None = None,
        sim_key: str = "",
        startup_window: float = 30.0,
        busy_retry: float = 0.5,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self.pin = pin
        self.pin_memory = pin_memory if pin_memory is not None else PinMemory()
        self.sim_key = sim_key or f"port:{self.name}"  # the SIM's key when its ICCID can't be read
        self.startup_window = startup_window  # how long "not yet" answers are waited out after init starts
        self.busy_retry = busy_retry
        self.smsc = smsc
        self.ref16 = ref16
        self.send_timeout = send_timeout
        self.prompt_timeout = prompt_timeout
        self._sleep = sleep
        self.manufacturer = ""
        self.ack_required = False  # +CSMS service 1: +CMT/+CDS must be acknowledged with +CNMA
        self.cnmi = ""
        self.charset = ""  # what AT+CSCS was set to; "" when the modem would not say
        self._restarted = False
        # told at once when the modem says it rebooted or its SMS service came up: its settings want making
        self.on_settings_lost: Callable[[], None] | None = None
        self._echo_off = False  # init turned the modem's echo off (ATE0 took)
        self.needs_sms_setup = False
        self._ready_at = 0.0
        self._startup_until = 0.0
        self._ussd_replies: queue.Queue[str] = queue.Queue()  # +CUSD lines
        self.storages = sim_storage.DEFAULT
        self.left_on_sim = 0  # what the primary memory held when the last sweep ended
        self._mem1: str | None = None  # None: not known (before init, after the modem restarted)
        self._can_select = True
        self._storage_lock = threading.RLock()  # one reader (and deleter) of SMS memory at a time

    # ---- init -------------------------------------------------------------------------------
    def init(self) -> None:
        """Bring a freshly opened (or rebooted) modem into the state the gateway relies on.

        A modem that is still starting (after power-on or AT+CFUN=1,1) answers "not yet" (CME 14/515,
        CMS 500, +CPIN: NOT READY) until its SIM and SMS service are up: those answers are waited out
        for `startup_window` seconds, never taken for "unsupported"."""
        self._startup_until = time.monotonic() + self.startup_window
        self._sync()
        self._optional("ATE0")
        echoed_before = self.transport.last_echo_at
        self._optional("AT+CMEE=1")
        self._unlock_sim()
        self.manufacturer = self._ask("AT+CGMI", "+CGMI:") or ""
        self._vendor_setup()
        self.sms_setup()
        self._echo_off = self.transport.last_echo_at == echoed_before
        self.needs_reinit = False
        self._ready_at = time.monotonic()
        log.info("%s: ready (%s, CNMI=%s, ack=%s)", self.name, self.manufacturer or "?", self.cnmi,
                 self.ack_required)

    @property
    def needs_reinit(self) -> bool:
        """The modem restarted on its own, so its settings are gone: it said so (RDY, START),
        or it echoes commands again after init turned its echo off, as a module that reboots without
        a word does (its CNMI back at the default would drop every status report)."""
        return self._restarted or (self._echo_off and self.transport.last_echo_at > self._ready_at)

    @needs_reinit.setter
    def needs_reinit(self, value: bool) -> None:
        self._restarted = value

    def sms_setup(self) -> None:
        """The SMS settings. Run at init and again once the modem says its SMS service is ready
        (`SMS Ready`, `+QIND: SMS DONE`): before that, modems refuse or forget them."""
        self.needs_sms_setup = False
        self._patient("AT+CMGF=0")  # PDU mode is not optional: text mode loses characters
        # a UCS2 charset left by another program hex-encodes answers
        self.charset = "GSM" if self._optional('AT+CSCS="GSM"') else ""
        self._optional("AT+CREG=0")  # registration is polled; +CREG URCs would only add noise
        self.ack_required = self._csms_service() == 1
        self._setup_storages()
        self.cnmi = self._choose_cnmi()
        if self.smsc:
            self._patient(f'AT+CSCA="{self.smsc}",145')

    def _patient(self, command: str, **kwargs: float) -> Response:
        """A command a starting modem may answer "not yet": asked again until the start-up window
        closes; any other refusal (or "not yet" after the window) is raised at once."""
        while True:
            try:
                return self.transport.command(command, **kwargs)
            except CommandFailed as exc:
                if not not_ready(exc) or time.monotonic() >= self._startup_until:
                    raise
                log.debug("%s: %s: not ready yet (%s); asking again", self.name, command, exc)
                self._sleep(self.busy_retry)

    def _sync(self) -> None:
        """Get an OK from a modem that may be echoing, booting or half-way through something.

        ESC first: a process that died during AT+CMGS leaves the modem waiting for PDU text, and it
        would swallow every command as part of that PDU.
        """
        last: Exception | None = None
        for _ in range(3):
            try:
                self.transport.cancel_input()
                self.transport.command("AT", timeout=2.0)
                return
            except (CommandTimeout, CommandFailed) as exc:
                last = exc
        raise CommandTimeout("AT", 2.0) from last

    def _unlock_sim(self) -> None:
        plain_errors = busy = 0
        tried = False
        while True:
            if busy >= 10 and time.monotonic() >= self._startup_until:
                raise SimError(f"{self.name}: the SIM stayed busy")
            try:
                state = payload_of(self.transport.command("AT+CPIN?").first("+CPIN:") or "+CPIN: READY")
            except CmeError as exc:
                if not_ready(exc):  # SIM or modem busy: still booting
                    busy += 1
                    self._sleep(1.0)
                    continue
                if exc.code == 10:
                    raise SimError(f"{self.name}: SIM not inserted") from exc
                if exc.code == 13:
                    raise SimError(f"{self.name}: SIM failure") from exc
                raise SimError(f"{self.name}: SIM not usable ({exc})") from exc
            except CommandFailed as exc:  # plain ERROR: error codes were off or the modem forgot them
                plain_errors += 1
                if plain_errors >= 3:
                    raise SimError(f"{self.name}: SIM not ready (AT+CPIN? answers {exc}); "
                                   "is it inserted and seated?") from exc
                self._optional("AT+CMEE=1")
                self._sleep(0.5)
                continue
            if state == "READY":
                return
            if state == "NOT READY":  # the SIM is still being read: a wait, not a SIM fault
                busy += 1
                self._sleep(1.0)
                continue
            if state == "SIM PIN":
                if tried:
                    raise SimError(f"{self.name}: the SIM accepted the PIN but asks for it again")
                self._enter_pin()
                tried = True
                self._sleep(0.5)
                continue
            raise SimError(f"{self.name}: the SIM needs {state}; unlock it in a phone first")

    def _enter_pin(self) -> None:
        """Send the configured PIN, unless this SIM already refused it (or never answered it): a SIM
        locks itself after three wrong PINs, and every reconnect would send it again."""
        if not self.pin:
            raise SimError(f"{self.name}: the SIM asks for a PIN; set pin in the config")
        if self.pin_memory.problem:
            raise SimError(f"{self.name}: the SIM asks for its PIN, but {self.pin_memory.problem}")
        key = self._sim_identity()
        if not self.pin_memory.may_try(key, self.pin):
            what = ("the configured PIN was sent once and its answer was lost" if self.pin_memory.unanswered(key)
                    else "PIN refused")
            raise SimError(f"{self.name}: {what}, {self._tries_left()}; the configured PIN is not tried again "
                           "until it changes")
        self.pin_memory.attempting(key, self.pin)
        try:
            self.transport.command(f'AT+CPIN="{self.pin}"', timeout=20.0)
        except CommandFailed as exc:
            self.pin_memory.refused(key, self.pin)
            raise SimError(f"{self.name}: PIN refused, {self._tries_left()} ({exc}); the configured PIN is not "
                           "tried again until it changes") from exc
        self.pin_memory.accepted(key)

    def _sim_identity(self) -> str:
        """Which SIM this is, for the PIN rule: its ICCID where the modem shows it before the PIN."""
        iccid = self._iccid()
        return f"iccid:{iccid}" if iccid else self.sim_key

    def _tries_left(self) -> str:
        """"N tries left", as far as the modem can say how many."""
        for command, prefix in TRIES_COMMANDS:
            line = self._optional_response(command, prefix)
            left = tries_left(line) if line else None
            if left is not None:
                return f"{left} {'try' if left == 1 else 'tries'} left"
        return "tries left unknown"

    def _vendor_setup(self) -> None:
        vendor = self.manufacturer.lower()
        if "huawei" in vendor:
            self._optional("AT^CURC=0")  # stop ^RSSI/^MODE/^BOOT floods
        elif "quectel" in vendor:
            self._optional('AT+QURCCFG="urcport","usbat"')  # unsolicited codes on the AT port

    def _csms_service(self) -> int:
        line = self._optional_response("AT+CSMS?", "+CSMS:")
        fields = parse_fields(payload_of(line)) if line else []
        return int(fields[0]) if fields and fields[0].isdigit() else 0

    def _choose_cnmi(self) -> str:
        derived = cnmi_from_test(self._optional_response("AT+CNMI=?", "+CNMI:") or "")
        for choice in ([derived] if derived else []) + [c for c in CNMI_CHOICES if c != derived]:
            try:
                self._patient(f"AT+CNMI={choice}")
                return choice
            except CommandFailed:
                continue
        log.warning("%s: no +CNMI mode accepted; inbound SMS found by periodic sweeps only", self.name)
        return ""

    def _optional(self, command: str) -> bool:
        """Commands that some modems answer ERROR without harm (after any "not yet" was waited out)."""
        try:
            self._patient(command)
            return True
        except CommandFailed:
            log.debug("%s: %s not supported", self.name, command)
            return False

    def _optional_response(self, command: str, prefix: str) -> str | None:
        try:
            return self._patient(command).first(prefix)
        except CommandFailed:
            return None

    def _ask(self, command: str, prefix: str) -> str | None:
        """A bare-value query (AT+CGMI), tolerating `+CGMI: value` and quoted values."""
        try:
            response = self.transport.command(command)
        except CommandFailed:
            return None
        for line in response.lines:
            value = payload_of(line) if line.startswith(prefix) else line
            value = value.strip().strip('"').strip()
            if value:
                return value
        return None

    # ---- identity and health ----------------------------------------------------------------
    def identity(self) -> Identity:
        return Identity(
            manufacturer=self.manufacturer or self._ask("AT+CGMI", "+CGMI:") or "",
            model=self._ask("AT+CGMM", "+CGMM:") or "",
            firmware=self._ask("AT+CGMR", "+CGMR:") or "",
            imei=self._ask("AT+CGSN", "+CGSN:") or "",
            imsi=self._ask("AT+CIMI", "+CIMI:"),
            iccid=self._iccid(),
        )

    def _iccid(self) -> str | None:
        for command, prefix in (("AT+CCID", "+CCID:"), ("AT+QCCID", "+QCCID:"),
                                ("AT^ICCID?", "^ICCID:"), ("AT+ICCID", "+ICCID:")):
            value = self._ask(command, prefix)
            if value:
                return normalise_iccid(value)
        return None

    def health(self, previous: Health | None = None) -> Health:
        """Registration and signal, and unless `previous` is given (whose values are kept) the
        operator, SMSC and SIM storage too: those change rarely, and every command is time the
        modem is not sending."""
        registration = "unknown"
        line = self._optional_response("AT+CREG?", "+CREG:")
        if line:
            fields = parse_fields(payload_of(line))
            stat = fields[1] if len(fields) > 1 else fields[0]
            registration = REGISTRATION.get(int(stat), "unknown") if stat.isdigit() else "unknown"
        signal = Signal(None, None, 0)
        line = self._optional_response("AT+CSQ", "+CSQ:")
        if line:
            fields = parse_fields(payload_of(line))
            if fields and fields[0].isdigit():
                signal = Signal.from_csq(int(fields[0]))
        if previous is not None:
            return Health(registration, previous.operator, signal, previous.smsc, previous.storage_used,
                          previous.storage_total)
        operator = None
        self._optional("AT+COPS=3,0")
        line = self._optional_response("AT+COPS?", "+COPS:")
        if line:
            fields = parse_fields(payload_of(line))
            operator = self._text(fields[2]) if len(fields) > 2 and fields[2] else None
        smsc = None
        line = self._optional_response("AT+CSCA?", "+CSCA:")
        if line:
            fields = parse_fields(payload_of(line))
            smsc = decode_number(fields[0]) if fields and fields[0] else None
        usage = sim_storage.receiving(sim_storage.parse_cpms_read(self._optional_response("AT+CPMS?", "+CPMS:")))
        used, total = (usage.used, usage.total) if usage else (None, None)
        return Health(registration, operator, signal, smsc, used, total)

    def wait_registered(self, timeout: float, *, stop: threading.Event | None = None) -> Health:
        """Poll registration until home/roaming; NotRegistered with the last state after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health.registered:
                return health
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                raise NotRegistered(f"{self.name}: not registered ({health.registration})")
            self._sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    # ---- sending ----------------------------------------------------------------------------
    def submit(self, part: pdu.SubmitPart, *, before_pdu: Callable[[], None] | None = None,
               after_pdu: Callable[[], None] | None = None) -> int | None:
        """Hand one part to the modem; returns its TP-MR. Raises CmsError, PromptTimeout,
        SubmitUncertain (the part may have gone) or ModemDisconnected.

        `before_pdu` runs while the modem gets to its `> ` prompt; the PDU goes only after it
        returned (if it raises, the send is cancelled and its error comes out here). `after_pdu`
        runs while the modem sends the PDU (it must not raise)."""
        response = self.transport.command_with_prompt(
            f"AT+CMGS={part.tpdu_length}", part.hex, prompt_timeout=self.prompt_timeout,
            timeout=self.send_timeout, meanwhile=before_pdu, while_sending=after_pdu)
        line = response.first("+CMGS:")
        fields = parse_fields(payload_of(line)) if line else []
        return int(fields[0]) if fields and fields[0].isdigit() else None

    def send(self, number: str, text: str, *, status_report: bool = True,
             concat_ref: int | None = None) -> list[PartSent]:
        """Send a whole message; SendFailed tells which parts the network already has."""
        parts = pdu.encode_submit(number, text, concat_ref=concat_ref, ref16=self.ref16,
                                  status_report=status_report)
        sent: list[PartSent] = []
        for part in parts:
            try:
                reference = self.submit(part)
            except ModemError as exc:
                raise SendFailed(sent, part.seq, exc) from exc
            sent.append(PartSent(part.seq, part.total, reference))
        return sent

    def _text(self, value: str) -> str:
        """A text answer (operator name) in the character set the modem was told to use; UCS-2 hex
        is recognised whatever was set, as another program may have left AT+CSCS="UCS2"."""
        decoded = decode_ucs2_hex(value)
        if decoded != value or self.charset != "GSM":
            return decoded
        return from_gsm_text(value)

    # ---- USSD -------------------------------------------------------------------------------
    def ussd(self, code: str, *, timeout: float = 30.0, keep_open: bool = False) -> str:
        """Run a USSD code (balance, own number) and return the network's whole text.

        The text comes in UCS2 (as Gammu asks for it): nothing is lost to the GSM character set
        and a menu's line breaks stay inside its hex. Huawei sticks take and give packed septets
        instead. A menu (`+CUSD: 1`) is answered by calling again with the choice and
        `keep_open=True`; otherwise its session is closed with AT+CUSD=2, as it is after a
        timeout, so the next code is not taken for a reply. UssdFailed for `+CUSD: 2..5`.
        """
        while not self._ussd_replies.empty():
            self._ussd_replies.get_nowait()
        packed = "huawei" in self.manufacturer.lower()
        charset = self.charset if packed or not self._optional('AT+CSCS="UCS2"') else "UCS2"
        try:
            request = ussd.encode_request(code, charset=charset, packed=packed)
            self.transport.command(f'AT+CUSD=1,"{request}",15', timeout=timeout, expect=None)
            try:
                line = self._ussd_replies.get(timeout=timeout)
            except queue.Empty:
                self._end_ussd()
                raise CommandTimeout(f"USSD {code}", timeout) from None
            answer = ussd.parse_cusd(line, charset=charset, packed=packed)
        finally:
            if charset != self.charset and self.charset:
                self._optional(f'AT+CSCS="{self.charset}"')
        if answer.failed:
            raise ussd.UssdFailed(code, answer)
        if answer.needs_reply and not keep_open:
            self._end_ussd()
        return answer.text

    def _end_ussd(self) -> None:
        """AT+CUSD=2: close the network's USSD session (a modem with none open may say ERROR)."""
        try:
            self.transport.command("AT+CUSD=2", expect=None)
        except CommandFailed as exc:
            log.debug("%s: AT+CUSD=2 refused: %s", self.name, exc)

    # ---- inbound ----------------------------------------------------------------------------
    def _setup_storages(self) -> None:
        """Use the memories `AT+CPMS=?` offers: the SIM for received SMS where it can be, and "SR"
        swept too where status reports may be stored there."""
        with self._storage_lock:  # the event thread may be reading another memory right now
            self.storages = sim_storage.choose(sim_storage.parse_cpms_test(
                self._optional_response("AT+CPMS=?", "+CPMS:")))
            self._can_select = self._optional(self.storages.select_command())
            self._mem1 = self.storages.primary if self._can_select else None

    def _select(self, storage: str | None) -> None:
        """Make `storage` mem1, which AT+CMGR/CMGL/CMGD work on. A modem that never accepted AT+CPMS
        has one memory; it is read as it is."""
        if storage is None or storage == self._mem1 or not self._can_select:
            return
        try:
            self.transport.command(f'AT+CPMS="{storage}"', timeout=10.0)
        except CommandFailed as exc:
            raise StorageUnavailable(f"{self.name}: cannot select SMS memory {storage}: {exc}") from exc
        self._mem1 = storage

    def read_stored(self, storage: str | None = None) -> list[InboundSms]:
        """Every SMS and status report in one memory (the primary unless named), read or not: those
        left by a crash, a full SIM or a URC we never saw."""
        storage = storage or self.storages.primary
        with self._storage_lock:
            self._select(storage)
            response = self.transport.command("AT+CMGL=4", timeout=30.0)
        entries = sim_storage.pair_listing(response.lines, "+CMGL:", storage)
        return [_inbound(entry.raw, entry.index, entry.storage) for entry in entries]

    def read_index(self, index: int, storage: str | None = None) -> str | None:
        """The PDU in one slot of `storage` (the primary unless named); None for an empty slot."""
        storage = storage or self.storages.primary
        with self._storage_lock:
            self._select(storage)
            response = self.transport.command(f"AT+CMGR={index}", timeout=10.0)
        entries = sim_storage.pair_listing(response.lines, "+CMGR:", storage, index)
        return entries[0].raw if entries else None

    def delete_index(self, index: int, storage: str | None = None) -> None:
        storage = storage or self.storages.primary
        with self._storage_lock:
            self._select(storage)
            self.transport.command(f"AT+CMGD={index}", timeout=10.0)

    def sweep(self, handler: InboundHandler) -> int:
        """Hand every stored SMS and status report to the handler; delete those it kept. Returns how
        many; `left_on_sim` says how many stay in the primary memory (refused, or not ours)."""
        kept = left = 0
        with self._storage_lock:
            for storage in self.storages.swept:
                try:
                    listed = self.read_stored(storage)
                except (StorageUnavailable, CommandFailed) as exc:  # an answer: the modem is fine
                    log.warning("%s: could not list SMS memory %s: %s", self.name, storage, exc)
                    continue
                for sms in listed:
                    try:
                        taken = self._take(handler, sms)
                    except (StorageUnavailable, CommandFailed) as exc:
                        log.warning("%s: %s/%s stays for the next read: %s", self.name, storage,
                                    sms.storage_index, exc)
                        taken = False
                    kept += taken
                    left += not taken and storage == self.storages.primary
            # counted by the modem: a slot no listing could pair with a PDU is there too
            usage = sim_storage.receiving(sim_storage.parse_cpms_read(self._optional_response("AT+CPMS?", "+CPMS:")))
            self.left_on_sim = usage.used if usage else left
        return kept

    def _take(self, handler: InboundHandler, sms: InboundSms) -> bool:
        """Apply one stored SMS or report by what its PDU is (not by which URC named it), then delete
        its slot if the handler kept it and the slot still holds the same PDU."""
        report = sms.message is None and sms.raw_pdu and _is_status_report(sms.raw_pdu)
        kept = _report(handler, self.name, sms.raw_pdu) if report else _deliver(handler, self.name, sms)
        if not kept or sms.storage_index is None:
            return False
        if self.read_index(sms.storage_index, sms.storage) != sms.raw_pdu.upper():
            log.warning("%s: slot %s/%d changed before it was deleted; left for the next read", self.name,
                        sms.storage, sms.storage_index)
            return False
        self.delete_index(sms.storage_index, sms.storage)
        return True

    def dispatch(self, event: Unsolicited, handler: InboundHandler) -> None:
        """Act on one unsolicited line. Never raises for bad input from the modem."""
        name = event.name
        try:
            if name in ("+CMTI", "+CDSI"):
                self._take_stored(event, handler)
            elif name == "+CMT":
                self._take_direct(event, lambda raw: _deliver(handler, self.name, _inbound(raw, None)))
            elif name == "+CDS":
                self._take_direct(event, lambda raw: _report(handler, self.name, raw))
            elif name == "+CUSD":
                self._ussd_replies.put(event.line)
            elif sim_storage.is_full_signal(event.line):
                log.warning("%s: SMS memory full (%s); reading it now", self.name, event.line)
                self.sweep(handler)
            elif event.line in _REBOOT_MARKERS and event.received_at > self._ready_at:
                self.needs_reinit = True  # the modem rebooted on its own: settings are gone
                self._mem1 = None
                self._settings_lost()
            elif event.line in _SMS_READY_MARKERS:
                self.needs_sms_setup = True
                self._settings_lost()
        except (ModemDisconnected, CommandTimeout):
            raise
        except ModemError as exc:
            log.warning("%s: could not handle %r: %s", self.name, event.line, exc)

    def _settings_lost(self) -> None:
        """Every status report that comes before CNMI is set again is dropped (ds=0): say so now."""
        if self.on_settings_lost is not None:
            self.on_settings_lost()

    def _take_stored(self, event: Unsolicited, handler: InboundHandler) -> None:
        """+CMTI/+CDSI: read the slot in the memory the URC names, under the one storage lock (a
        sweep in another thread must not read and delete the same slots meanwhile)."""
        slot = sim_storage.parse_stored_urc(event.line)
        if slot is None:
            log.warning("%s: unreadable %r", self.name, event.line)
            return
        storage, index = slot
        with self._storage_lock:
            raw = self.read_index(index, storage)
            if raw is not None:
                self._take(handler, _inbound(raw, index, storage or self.storages.primary))

    def _take_direct(self, event: Unsolicited, handle: Callable[[str], bool]) -> None:
        if event.pdu is None:
            log.warning("%s: %r came without its PDU line", self.name, event.line)
            return
        if handle(event.pdu) and self.ack_required:
            try:
                self.transport.command("AT+CNMA")
            except CommandFailed as exc:
                log.debug("%s: +CNMA refused: %s", self.name, exc)

    def run_events(self, handler: InboundHandler, stop: threading.Event) -> None:
        """Consume unsolicited lines until `stop` or the port is lost (the supervisor's thread)."""
        while not stop.is_set():
            try:
                event = self.transport.unsolicited.get(timeout=1.0)
            except queue.Empty:
                continue
            if event is DISCONNECTED:
                return
            try:
                self.dispatch(event, handler)
            except ModemError as exc:
                log.warning("%s: %s while handling %r", self.name, exc, event.line)
                if not self.transport.connected:
                    return
            except Exception:  # this thread must outlive any one bad line
                log.exception("%s: failed to handle %r", self.name, event.line)


def cnmi_from_test(answer: str) -> str | None:
    """The preferred +CNMI setting among those an `AT+CNMI=?` answer offers, e.g.
    `+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)` -> "2,1,0,1,0"; None when it offers none we can use."""
    offered = parse_ranges(payload_of(answer))
    if len(offered) < 2:
        return None
    chosen: list[int] = []
    for i, preference in enumerate(CNMI_PREFERENCE):
        values = offered[i] if i < len(offered) else {0}
        if i >= 2 and not values:  # an empty group: the parameter is not offered, leave it at 0
            values = {0}
        pick = next((v for v in preference if v in values), None)
        if pick is None:
            if i < 2:
                return None  # no usable mode or SMS indication
            pick = min(values)
        chosen.append(pick)
    return ",".join(map(str, chosen))


def _inbound(raw: str, index: int | None, storage: str | None = None) -> InboundSms:
    try:
        message = pdu.decode(raw)
    except MalformedPdu as exc:
        return InboundSms(raw, None, f"undecodable PDU: {exc}", index, storage)
    if not isinstance(message, pdu.Deliver):
        return InboundSms(raw, None, f"not an SMS-DELIVER ({type(message).__name__})", index, storage)
    return InboundSms(raw, message, None, index, storage)


def _is_status_report(raw: str) -> bool:
    try:
        return isinstance(pdu.decode(raw), pdu.StatusReport)
    except MalformedPdu:
        return False


def _deliver(handler: InboundHandler, modem: str, sms: InboundSms) -> bool:
    """Call the handler; an exception in it means 'not kept', so the SMS stays on the SIM."""
    try:
        return bool(handler.on_sms(modem, sms))
    except Exception:
        log.exception("%s: inbound handler failed; the SMS stays on the modem", modem)
        return False


def _report(handler: InboundHandler, modem: str, raw: str) -> bool:
    try:
        report = pdu.decode(raw)
    except MalformedPdu as exc:
        log.warning("%s: undecodable status report %r: %s", modem, raw, exc)
        return True  # nothing useful can ever come of it; drop it from the SIM
    if not isinstance(report, pdu.StatusReport):
        log.warning("%s: expected a status report, got %s", modem, type(report).__name__)
        return True
    try:
        return bool(handler.on_status_report(modem, report))
    except Exception:
        log.exception("%s: status report handler failed", modem)
        return False


def normalise_iccid(value: str) -> str:
    """ICCIDs start 89; Huawei's ^ICCID prints the nibbles swapped (98...)."""
    digits = re.sub(r"[^0-9A-Fa-f]", "", value)
    if digits.startswith("98") and len(digits) % 2 == 0:
        digits = "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))
    return digits.rstrip("Ff")
