"""Technician checks on one modem: each says PASS, FAIL or SKIP with its reason and, when it did not
pass, the fix a person can act on.

The hw-test scripts are thin programs over this (`modem/technician.py` is their shared command
line), so the same checks run on a real modem, on a virtual one (dry run), and in the test suite.
Every selected check is reported in a fixed order whatever failed before it; one that cannot run
says SKIP and names what it waits for. The checks drive one AtTransport and one ModemSession
directly, not the supervisor: a technician wants one attempt, its exact cause and no retry loop,
so a missing port fails at once and a modem that answers but finds no network says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import TypeVar

from modem import diagnostic_fixes as fixes
from modem.errors import CommandFailed, CommandTimeout, ModemError, SimError
from modem.pdu import StatusReport
from modem.pin import TRIES_COMMANDS, tries_left
from modem.report_match import matches_any
from modem.session import Health, Identity, InboundSms, ModemSession, SendFailed
from modem.supervision import ModemSettings
from modem.transport import RESYNC_TIMEOUT, AtTransport

T = TypeVar("T")


class Status(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    WARN = "WARN"  # works now, but will not for long (`gsmgw doctor`: a worn SD card, little disk left)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    seconds: float | None = None  # how long the step took, where timing is the point (sending)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def line(self) -> str:
        text = f"{self.status.value} {self.name}: {self.detail}"
        return f"{text}; fix: {self.fix}" if self.fix and not self.passed else text

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status.value}


PORT, ANSWERS, IMEI, SIM, REGISTRATION = "port", "modem answers", "IMEI", "SIM ready", "network registration"
PIN_TRIES, SIGNAL, SMSC, STORAGE = "PIN tries left", "signal", "service centre (SMSC)", "SIM message storage"
SEND, REPORT = "send SMS", "delivery report"
PROBE_CHECKS = (PORT, ANSWERS, IMEI, SIM, PIN_TRIES, REGISTRATION, SIGNAL, SMSC, STORAGE)
SEND_CHECKS = (PORT, ANSWERS, SIM, REGISTRATION, SEND, REPORT)
READY_CHECKS = (PORT, ANSWERS, SIM, REGISTRATION)  # what a script needs before its own steps
ANSWER_TIMEOUT = 3.0  # a modem answers AT in milliseconds; a booting one within a second or two


@dataclass(frozen=True)
class CheckOptions:
    port: str
    baudrate: int = 115200
    rtscts: bool = False
    pin: str = ""
    min_bars: int = 2  # below -103 dBm a SIM800 loses sends
    register_timeout: float = 5.0  # a searching modem fails after this; a denied one at once
    answer_timeout: float = ANSWER_TIMEOUT  # a modem silent this long to AT (or its resync) counts as hung
    send_to: str | None = None
    text: str = "gsmgw hardware test"
    report_timeout: float = 30.0


def summary(checks: Sequence[Check]) -> str:
    """`9/9 PASS`, or `6/9 PASS, 1 FAIL, 2 SKIP`."""
    passed = sum(c.passed for c in checks)
    text = f"{passed}/{len(checks)} PASS"
    for status in (Status.FAIL, Status.WARN, Status.SKIP):
        count = sum(c.status is status for c in checks)
        if count:
            text += f", {count} {status.value}"
    return text


def all_passed(checks: Sequence[Check]) -> bool:
    """Exit 0 only on this: something checked and nothing failed (a SKIP without FAIL is a check
    the modem cannot answer, such as storage on a modem that does not report it; a WARN is a fix
    to make soon, not a failure)."""
    return bool(checks) and not any(c.status is Status.FAIL for c in checks)


@dataclass(frozen=True)
class Step:
    """A script's own check after the probe's (a USSD code, a loopback, a soak): its name, the check
    it needs to have passed (SKIP otherwise), and what it does with the probed modem."""

    name: str
    needs: str | None
    run: Callable[[Probe], Check]


def run_checks(options: CheckOptions, names: Iterable[str] = PROBE_CHECKS,
               steps: Sequence[Step] = ()) -> Iterator[Check]:
    """Yield the named checks (in their order above), each one whatever came before it, then the
    script's own `steps` in theirs."""
    wanted = set(names)
    with Probe(options) as probe:
        for name in PROBE_CHECKS + (SEND, REPORT):
            if name in wanted:
                yield probe.run(name)
            elif name in PROBE_CHECKS:  # read-only, and a wanted check may need what it learns
                probe.run(name)
        for step in steps:
            yield probe.run_step(step)


class Inbox:
    """Collects status reports; leaves inbound SMS on the SIM for the daemon unless `keep_sms` (a
    loopback waits for its own text and takes it)."""

    def __init__(self, keep_sms: bool = False) -> None:
        self.reports: list[StatusReport] = []
        self.sms: list[InboundSms] = []
        self.keep_sms = keep_sms
        self.changed = threading.Condition()

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        if not self.keep_sms:
            return False
        with self.changed:
            self.sms.append(sms)
            self.changed.notify_all()
        return True

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        with self.changed:
            self.reports.append(report)
            self.changed.notify_all()
        return True

    def wait(self, found: Callable[[], T | None], timeout: float) -> T | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                report = found()
                left = deadline - time.monotonic()
                if report is not None or left <= 0:
                    return report
                self.changed.wait(left)


class Probe:
    """One modem under test: each check runs once, in order, and remembers what later ones need."""

    def __init__(self, options: CheckOptions, *, keep_sms: bool = False) -> None:
        self.options = options
        settings = ModemSettings("modem", port=options.port, baudrate=options.baudrate, rtscts=options.rtscts,
                                 pin=options.pin)
        self.transport = AtTransport(options.port, settings,
                                     resync_timeout=min(RESYNC_TIMEOUT, options.answer_timeout))
        self.session = ModemSession(self.transport, settings)
        self.reports = Inbox(keep_sms)
        self.results: dict[str, Check] = {}
        self.identity: Identity | None = None
        self.health: Health | None = None
        self.sim_error: SimError | None = None
        self.parts: list = []
        self.sent_at = 0.0
        self._events_stop = threading.Event()
        self._events: threading.Thread | None = None

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self._events_stop.set()
        self.transport.close()
        if self._events is not None:
            self._events.join(timeout=5)

    def run(self, name: str) -> Check:
        steps: dict[str, tuple[str | None, Callable[[], Check]]] = {
            PORT: (None, self._port), ANSWERS: (PORT, self._answers), IMEI: (ANSWERS, self._imei),
            SIM: (ANSWERS, self._sim), PIN_TRIES: (ANSWERS, self._pin_tries), REGISTRATION: (SIM, self._registration),
            SIGNAL: (ANSWERS, self._signal), SMSC: (SIM, self._smsc), STORAGE: (SIM, self._storage),
            SEND: (REGISTRATION, self._send), REPORT: (SEND, self._report)}
        needs, step = steps[name]
        return self.run_step(Step(name, needs, lambda _probe: step()))

    def run_step(self, step: Step) -> Check:
        """The step's check, or SKIP naming the check it needs when that one did not pass."""
        if step.needs is not None and not self.passed(step.needs):
            check = Check(step.name, Status.SKIP, f"needs {step.needs}")
        else:
            check = step.run(self)
        self.results[step.name] = check
        return check

    def passed(self, name: str) -> bool:
        return name in self.results and self.results[name].passed

    # ---- the checks, in order -----------------------------------------------------------------
    def _port(self) -> Check:
        try:
            self.transport.open()
        except ModemError as exc:
            return Check(PORT, Status.FAIL, f"cannot open {self.options.port}: {fixes.cause(exc)}",
                         fixes.port_fix(exc))
        return Check(PORT, Status.PASS, f"{self.options.port} open at {self.options.baudrate} baud")

    def _answers(self) -> Check:
        try:
            self._first_answer()
            self.session.init()
        except SimError as exc:
            self.sim_error = exc  # the modem itself answers; the SIM check says the rest
        except CommandTimeout as exc:
            return Check(ANSWERS, Status.FAIL, fixes.timeout_detail(exc),
                         "check the modem has power (its LED blinks), the baud rate (--baudrate) and the "
                         "TX/RX wiring; a modem that hangs needs a power cycle")
        except ModemError as exc:
            return Check(ANSWERS, Status.FAIL, str(exc), "power-cycle the modem and run again")
        try:
            self.identity = self.session.identity()
        except ModemError as exc:
            return Check(ANSWERS, Status.FAIL, f"answered AT, then: {exc}", "power-cycle the modem and run again")
        if self.sim_error is None:
            self._events = threading.Thread(target=self.session.run_events,
                                            args=(self.reports, self._events_stop),
                                            name="modem-events", daemon=True)
            self._events.start()
        ident = self.identity
        return Check(ANSWERS, Status.PASS, f"{ident.manufacturer} {ident.model} firmware {ident.firmware}")

    def _first_answer(self) -> None:
        """One `AT` (after ESC, in case a dead program left a `> ` prompt open) before the session's
        own init: a modem that says nothing fails after one wait instead of the init's three."""
        self.transport.cancel_input()
        try:
            self.transport.command("AT", timeout=self.options.answer_timeout)
        except CommandFailed:
            pass  # ERROR is an answer: the modem is there
        except CommandTimeout as exc:
            raise CommandTimeout("AT", exc.seconds) from exc

    def _imei(self) -> Check:
        imei = self.identity.imei if self.identity else ""
        if imei:
            return Check(IMEI, Status.PASS, imei)
        return Check(IMEI, Status.FAIL, "the modem did not tell (AT+CGSN)", "a modem without an IMEI "
                     "is refused by networks: check the firmware or replace the modem")

    def _sim(self) -> Check:
        if self.sim_error is not None:
            return Check(SIM, Status.FAIL, str(self.sim_error), fixes.sim_fix(self.sim_error))
        ident = self.identity
        if ident is None or not ident.imsi:
            return Check(SIM, Status.FAIL, "the SIM gives no IMSI (AT+CIMI)", "reseat the SIM with the power off")
        return Check(SIM, Status.PASS, f"IMSI {ident.imsi} ICCID {ident.iccid or '-'}")

    def _pin_tries(self) -> Check:
        """Asked whatever the SIM's state, each model's way (pin.TRIES_COMMANDS): a technician about
        to type a PIN wants to know whether one more wrong try locks the SIM."""
        if self.sim_error is not None and "not inserted" in str(self.sim_error):
            return Check(PIN_TRIES, Status.SKIP, f"needs {SIM} (no SIM to ask)")
        for command, prefix in TRIES_COMMANDS:
            try:
                line = self.transport.command(command, timeout=self.options.answer_timeout).first(prefix)
            except ModemError:
                continue  # not this model's command
            left = tries_left(line) if line else None
            if left is not None:
                detail = f"{left} of 3 ({command.removeprefix('AT').split('=')[0].rstrip('?')})"
                if left <= 1:
                    return Check(PIN_TRIES, Status.FAIL, detail, fixes.pin_tries_fix(left))
                return Check(PIN_TRIES, Status.PASS, detail)
        return Check(PIN_TRIES, Status.SKIP, "the modem does not tell (no AT+CPINR, +SPIC, ^CPIN or +QPINC)")

    def _registration(self) -> Check:
        deadline = time.monotonic() + self.options.register_timeout
        started = time.monotonic()
        while True:
            try:
                self.health = self.session.health()
            except ModemError as exc:
                return Check(REGISTRATION, Status.FAIL, f"no answer to the registration query: {exc}",
                             "power-cycle the modem and run again")
            registration = self.health.registration
            if self.health.registered:
                return Check(REGISTRATION, Status.PASS, f"{registration} on {self.health.operator or '?'}",
                             seconds=round(time.monotonic() - started, 3))
            if registration == "denied" or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        waited = f" after {self.options.register_timeout:g} s" if registration != "denied" else ""
        cause = self._reject_cause() if registration == "denied" else None
        return Check(REGISTRATION, Status.FAIL,
                     f"no network: registration {fixes.registration_reason(registration, cause)}{waited}",
                     fixes.registration_fix(registration, cause))

    def _reject_cause(self) -> int | None:
        """The network's reason for a refusal, where the model tells it (AT+CEER)."""
        try:
            answer = self.transport.command("AT+CEER", timeout=self.options.answer_timeout)
            return fixes.reject_cause(answer.first("+CEER:"))
        except ModemError:
            return None

    def _signal(self) -> Check:
        health = self.health
        if health is None:  # the SIM failed, so registration never asked: the signal is still readable
            try:
                health = self.session.health()
            except ModemError as exc:
                return Check(SIGNAL, Status.FAIL, f"no answer to AT+CSQ: {exc}", "power-cycle the modem")
        signal = health.signal
        if signal.csq is None:
            return Check(SIGNAL, Status.FAIL, "none (CSQ 99: the modem hears no network)",
                         "connect the antenna; check coverage for this SIM's network here")
        words = {0: "none", 1: "very weak", 2: "weak", 3: "fair", 4: "good", 5: "excellent"}
        detail = f"{words[signal.bars]}: {signal.bars}/5 bars ({signal.dbm} dBm, CSQ {signal.csq})"
        if signal.bars < self.options.min_bars:
            return Check(SIGNAL, Status.FAIL, f"{detail}, below {self.options.min_bars} bars",
                         "move the antenna away from metal and other modems, or use an external antenna")
        return Check(SIGNAL, Status.PASS, detail)

    def _smsc(self) -> Check:
        smsc = self.health.smsc if self.health else None
        if smsc:
            return Check(SMSC, Status.PASS, smsc)
        return Check(SMSC, Status.FAIL, "not set on the SIM (AT+CSCA? is empty)",
                     "set smsc in the config to the operator's service centre number")

    def _storage(self) -> Check:
        health = self.health
        if health is None or health.storage_total is None:
            return Check(STORAGE, Status.SKIP, "the modem does not report its SMS storage (AT+CPMS?)")
        used, total = health.storage_used or 0, health.storage_total
        if used >= total:
            return Check(STORAGE, Status.FAIL, f"full: {used}/{total} used; new messages wait in the network",
                         "start the gateway (it empties the SIM) or delete messages in a phone")
        return Check(STORAGE, Status.PASS, f"{used}/{total} used")

    def _send(self) -> Check:
        to = self.options.send_to
        if not to:
            return Check(SEND, Status.SKIP, "no number to send to (--send-to)")
        started = time.monotonic()
        try:
            self.parts = self.session.send(to, self.options.text)
        except SendFailed as exc:
            return Check(SEND, Status.FAIL, f"the modem refused the message: {exc.cause}", fixes.send_fix(exc.cause))
        except (ModemError, ValueError) as exc:
            return Check(SEND, Status.FAIL, str(exc), "check the number (+country code) and run again")
        self.sent_at = time.monotonic()
        references = ", ".join(str(p.reference) for p in self.parts)
        seconds = round(self.sent_at - started, 3)
        return Check(SEND, Status.PASS, f"accepted in {seconds:g} s, reference {references}", seconds=seconds)

    def _report(self) -> Check:
        timeout = self.options.report_timeout
        outstanding = [(self.options.send_to or "", p.reference) for p in self.parts]
        report = self.reports.wait(
            lambda: next((r for r in self.reports.reports if matches_any(r, outstanding)), None), timeout)
        if report is None:
            return Check(REPORT, Status.FAIL, f"none within {timeout:g} s",
                         "the SIM's plan may not offer status reports; try again with --report-timeout 120")
        seconds = round(time.monotonic() - self.sent_at, 3)
        detail = f"{report.outcome} (TP-Status 0x{report.status:02X}) {seconds:g} s after the send"
        if report.outcome != "delivered":
            return Check(REPORT, Status.FAIL, detail, "check the number; the network says it cannot deliver there",
                         seconds=seconds)
        return Check(REPORT, Status.PASS, detail, seconds=seconds)
