"""The AT session: what to say to a modem, on top of the transport.

Init that tolerates real variety (echo, optional commands answered ERROR, SIM PIN tried at most once
per SIM and configured PIN, a modem still starting up that answers "not yet", +CNMI chosen from what
AT+CNMI=? offers), identity and health, sending a message part by part with each part's message
reference, USSD, and the unsolicited lines routed to their job: inbound SMS and reports to the SMS
memory (`modem.sms_memory`), USSD answers to the waiting request, a reboot or `SMS Ready` to the
settings being made again. What the answers mean is read by pure modules (`modem.health`,
`modem.cnmi`, `modem.ussd`, `modem.sim_storage`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from modem import cnmi, pdu, sim_storage
from modem.errors import CommandFailed, CommandTimeout, ModemDisconnected, ModemError, NotRegistered, not_ready
from modem.encoding import from_gsm_text
from modem.health import Health, Identity, normalise_iccid, operator_field, registration_of, signal_of, smsc_of
from modem.lines import decode_ucs2_hex, parse_fields, payload_of
from modem.pin import PinMemory
from modem.sim_unlock import SimUnlocking
from modem.supervision import ModemSettings
from modem.sms_memory import InboundHandler, InboundSms, SmsMemory, hand_report, hand_sms, keep_received, read_sms
from modem.transport import DISCONNECTED, AtTransport, Response, Unsolicited
from modem.ussd_requests import UssdRequests

log = logging.getLogger("gsmgw.modem")

# What only a boot prints, first thing (SIMCom and Quectel "RDY", SIMCom's 3G/LTE "START"). Not
# `+CFUN: 1`, `+CPIN: READY` or `PB DONE`: a modem prints those again when its SIM is unlocked or its
# phone book is read, and the end of a boot can come after init is done; taking them for a new boot
# sets up a modem that never restarted.
_REBOOT_MARKERS = frozenset({"RDY", "START"})
# Most seconds a closing session waits for its port to close before it stops looking for +CMT/+CDS
# already received (the supervisor closes it right after telling the events thread to stop).
KEEP_RECEIVED_LIMIT = 10.0
# The modem's SMS service is up only now: settings it refused or forgot before are made again.
_SMS_READY_MARKERS = frozenset({"SMS Ready", "+QIND: SMS DONE", "+QIND: \"SMS DONE\""})


@dataclass(frozen=True)
class PartSent:
    seq: int
    total: int
    reference: int | None  # TP-MR from +CMGS, matched later against status reports


class SendFailed(ModemError):
    """A message could not be sent whole; `sent` lists the parts the network already accepted."""

    def __init__(self, sent: list[PartSent], failed_seq: int, cause: Exception) -> None:
        super().__init__(f"part {failed_seq} failed: {cause}")
        self.sent = sent
        self.failed_seq = failed_seq
        self.cause = cause


class ModemSession(SimUnlocking, UssdRequests):
    """Speaks AT to one modem through an AtTransport."""

    def __init__(
        self,
        transport: AtTransport,
        settings: ModemSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        pin_memory: PinMemory | None = None,
        sim_key: str = "",
        busy_retry: float = 0.5,
    ) -> None:
        """`settings`: the modem's (PIN, SMSC, timeouts, start-up window); by default none of them set."""
        self.transport = transport
        self.name = transport.name
        self.settings = settings if settings is not None else ModemSettings(transport.name)
        self.pin_memory = pin_memory if pin_memory is not None else PinMemory()
        self.sim_key = sim_key or f"port:{self.name}"  # the SIM's key when its ICCID can't be read
        self.busy_retry = busy_retry
        self._sleep = sleep
        self.manufacturer = ""
        self.ack_required = False  # +CSMS service 1: +CMT/+CDS must be acknowledged with +CNMA
        self.cnmi = ""
        self.charset = ""  # what AT+CSCS was set to; "" when the modem would not say
        self.charset_lock = threading.RLock()  # a USSD request sets AT+CSCS for its answer; the SMS settings wait
        self._restarted = False
        # told at once when the modem says it rebooted or its SMS service came up: its settings want making
        self.on_settings_lost: Callable[[], None] | None = None
        self._echo_off = False  # init turned the modem's echo off (ATE0 took)
        self.needs_sms_setup = False
        self._ready_at = 0.0
        self._startup_until = 0.0
        self._ussd_replies: queue.Queue[str] = queue.Queue()  # +CUSD lines
        self.memory = SmsMemory(transport, optional=self._optional, optional_response=self._optional_response)

    # ---- init -------------------------------------------------------------------------------
    def init(self) -> None:
        """Bring a freshly opened (or rebooted) modem into the state the gateway relies on.

        A modem that is still starting (after power-on or AT+CFUN=1,1) answers "not yet" (CME 14/515,
        CMS 500, +CPIN: NOT READY) until its SIM and SMS service are up: those answers are waited out
        for `startup_window` seconds, never taken for "unsupported"."""
        self._startup_until = time.monotonic() + self.settings.startup_window
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
        with self.charset_lock:  # a UCS2 charset left by another program hex-encodes answers
            self.charset = "GSM" if self._optional('AT+CSCS="GSM"') else ""
        self._optional("AT+CREG=0")  # registration is polled; +CREG URCs would only add noise
        self.ack_required = self._csms_service() == 1
        self.memory.setup()
        self.cnmi = self._choose_cnmi()
        if self.settings.smsc:
            self._patient(f'AT+CSCA="{self.settings.smsc}",145')

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
        for choice in cnmi.choices(self._optional_response("AT+CNMI=?", "+CNMI:")):
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
        registration = registration_of(self._optional_response("AT+CREG?", "+CREG:"))
        signal = signal_of(self._optional_response("AT+CSQ", "+CSQ:"))
        if previous is not None:
            return Health(registration, previous.operator, signal, previous.smsc, previous.storage_used,
                          previous.storage_total)
        self._optional("AT+COPS=3,0")
        name = operator_field(self._optional_response("AT+COPS?", "+COPS:"))
        operator = self._text(name) if name else None
        smsc = smsc_of(self._optional_response("AT+CSCA?", "+CSCA:"))
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
            self._sleep(min(self.settings.registration_poll_s, max(0.0, deadline - time.monotonic())))

    # ---- sending ----------------------------------------------------------------------------
    def submit(self, part: pdu.SubmitPart, *, before_pdu: Callable[[], None] | None = None,
               after_pdu: Callable[[], None] | None = None) -> int | None:
        """Hand one part to the modem; returns its TP-MR. Raises CmsError, PromptTimeout,
        SubmitUncertain (the part may have gone) or ModemDisconnected.

        `before_pdu` runs while the modem gets to its `> ` prompt; the PDU goes only after it
        returned (if it raises, the send is cancelled and its error comes out here). `after_pdu`
        runs while the modem sends the PDU (it must not raise)."""
        response = self.transport.command_with_prompt(
            f"AT+CMGS={part.tpdu_length}", part.hex, prompt_timeout=self.settings.prompt_timeout_s,
            timeout=self.settings.send_timeout_s, meanwhile=before_pdu, while_sending=after_pdu)
        line = response.first("+CMGS:")
        fields = parse_fields(payload_of(line)) if line else []
        return int(fields[0]) if fields and fields[0].isdigit() else None

    def send(self, number: str, text: str, *, status_report: bool = True,
             concat_ref: int | None = None) -> list[PartSent]:
        """Send a whole message; SendFailed tells which parts the network already has."""
        parts = pdu.encode_submit(number, text, concat_ref=concat_ref, ref16=self.settings.concat_ref16,
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

    # ---- inbound ----------------------------------------------------------------------------
    @property
    def storages(self) -> sim_storage.Storages:
        return self.memory.storages

    @property
    def left_on_sim(self) -> int:
        """What the primary memory held when the last sweep ended (refused, or not ours)."""
        return self.memory.left_on_sim

    def read_stored(self, storage: str | None = None) -> list[InboundSms]:
        return self.memory.read_stored(storage)

    def sweep(self, handler: InboundHandler) -> int:
        """Hand every stored SMS and status report to the handler; delete those it kept."""
        return self.memory.sweep(handler)

    def dispatch(self, event: Unsolicited, handler: InboundHandler) -> None:
        """Act on one unsolicited line. Never raises for bad input from the modem."""
        name = event.name
        try:
            if name in ("+CMTI", "+CDSI"):
                self.memory.take_stored(event, handler)
            elif name == "+CMT":
                self.memory.take_direct(event, lambda raw: hand_sms(handler, self.name, read_sms(raw, None)),
                                        acknowledge=self.ack_required)
            elif name == "+CDS":
                self.memory.take_direct(event, lambda raw: hand_report(handler, self.name, raw),
                                        acknowledge=self.ack_required)
            elif name == "+CUSD":
                self._ussd_replies.put(event.line)
            elif sim_storage.is_full_signal(event.line):
                log.warning("%s: SMS memory full (%s); reading it now", self.name, event.line)
                self.sweep(handler)
            elif event.line in _REBOOT_MARKERS and event.received_at > self._ready_at:
                self.needs_reinit = True  # the modem rebooted on its own: settings are gone
                self.memory.forget_selection()
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

    def run_events(self, handler: InboundHandler, stop: threading.Event) -> None:
        """Consume unsolicited lines until `stop` or the port is lost (the supervisor's thread);
        what came before the end is still kept (`keep_received`)."""
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
                    break
            except Exception:  # this thread must outlive any one bad line
                log.exception("%s: failed to handle %r", self.name, event.line)
        self.keep_received(handler)

    def keep_received(self, handler: InboundHandler, limit: float = KEEP_RECEIVED_LIMIT) -> int:
        """The +CMT/+CDS the modem sent before the session ended that this thread had not reached
        yet (`sms_memory.keep_received`)."""
        transport = self.transport
        return keep_received(transport.unsolicited, self.name, handler, lambda: transport.connected, limit)

