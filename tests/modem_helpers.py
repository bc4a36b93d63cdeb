"""Helpers for tests that run the real serial driver against virtual modems on ptys, or talk AT to
them as a bare host does (`Host`, the `hosts` fixture)."""

from __future__ import annotations

import os
import re
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import serial

from modem.pdu import StatusReport, encode_submit
from modem.session import InboundSms
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor
from modem.virtual import VirtualModem
from modem.virtual.cli import Simulation, run_simulator


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Wait for something the system under test does (not a fixed sleep): poll until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def another_program_wrote(port: str, *commands: bytes, until: bytes) -> None:
    """What another program left behind on the modem: `commands` written to `port`, read up to
    `until` in the answer, the port closed."""
    other = serial.serial_for_url(port, timeout=1)
    try:
        for command in commands:
            other.write(command)
        assert until in other.read_until(until)
    finally:
        other.close()


def virtual_modems(directory: Any, count: int = 1, **options: Any) -> Simulation:
    """`count` virtual modems on ptys in `directory`, with the suite's quick timings (registered
    after 50 ms, status reports after 0.2 s) unless `options` say otherwise; printing nothing.
    Close it (or use it in `with`) to end them."""
    values: dict[str, Any] = dict(report_delay=0.2, register_delay=0.05, out=None)
    values.update(options)
    return run_simulator(count, directory=str(directory), **values)


class Inbox:
    """An inbound handler that records what it is given and can be told to refuse."""

    def __init__(self) -> None:
        self.sms: list[InboundSms] = []
        self.reports: list[StatusReport] = []
        self.refuse = False
        self.refused = 0  # how many SMS it was given while refusing
        self.lock = threading.Lock()

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        if self.refuse:
            with self.lock:
                self.refused += 1
            raise RuntimeError("handler failure (simulated)")
        with self.lock:
            self.sms.append(sms)
        return True

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        with self.lock:
            self.reports.append(report)
        return True

    def texts(self) -> list[str]:
        with self.lock:
            return [s.message.text for s in self.sms if s.message]


def fast_settings(name: str, port: str, **overrides: Any) -> ModemSettings:
    values: dict[str, Any] = dict(name=name, port=port, command_timeout_s=1.0, send_timeout_s=5.0,
                                  check_interval_s=0.5, registration_timeout_s=5.0, registration_poll_s=0.05,
                                  backoff=(0.2, 0.5, 1.0))
    values.update(overrides)
    return ModemSettings(**values)


def start_supervisor(name: str, port: str, inbox: Inbox, **overrides: Any) -> ModemSupervisor:
    supervisor = ModemSupervisor(fast_settings(name, port, **overrides), inbox)
    supervisor.start()
    assert supervisor.wait_for({ModemState.READY}, 15), f"{name}: {supervisor.state} {supervisor.reason}"
    return supervisor


def wait_settled(supervisor: ModemSupervisor, modem: Any, timeout: float = 15.0) -> None:
    """The event a scenario starts from: the virtual modem is registered and has said what it says
    at start-up ("Call Ready", "SMS Ready"), the supervisor has read and acted on all of it (SMS
    settings made again) and is READY. Before this, a claim can meet a modem still initialising."""
    wait_until(lambda: modem.registered and getattr(modem, "_ready_sent", False), timeout,
               f"{modem.name} registered and its start-up lines out")
    with supervisor.session() as session:
        session.transport.command("AT")  # answered after every line the modem wrote before it
    before = supervisor.health
    supervisor.check_now()

    def acted_on() -> bool:
        session = supervisor._session
        return (supervisor.state is ModemState.READY and session is not None and session.transport.unsolicited.empty()
                and not session.needs_sms_setup and not session.needs_reinit and supervisor.health is not before)

    wait_until(acted_on, timeout, f"{supervisor.name} to act on its start-up lines ({supervisor.state})")
    with supervisor._session.memory.lock:  # the sweep that check ends with is over
        pass


def when_the_modem_sees(modem: Any, nth_cmgs: int, then: Callable[[], None]) -> None:
    """Run `then()` when the virtual modem gets its `nth_cmgs` AT+CMGS from now, before it answers."""
    original = modem.feed
    seen = {"cmgs": 0}

    def feed(data: bytes) -> None:
        if b"AT+CMGS=" in data:
            seen["cmgs"] += 1
            if seen["cmgs"] == nth_cmgs:
                then()
        original(data)

    modem.feed = feed


def fail_nth_send(modem: Any, nth: int, code: int) -> None:
    """Make the virtual modem answer +CMS ERROR `code` to its `nth` AT+CMGS from now (one part of a
    multipart message), using its own fault injection at the right moment."""
    when_the_modem_sees(modem, nth, lambda: modem.cms_error(code, times=1))


# ---- the driver's fixtures: one supervisor on sim1 -----------------------------------------------
@pytest.fixture(name="sim_options")
def sim800_and_e3131() -> dict:
    """The `sim` fixture's modems for the driver's tests (imported in place of conftest's): a SIM800
    and an E3131."""
    return {"count": 2, "profile": "sim800,e3131"}


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def modem1(sim, inbox):
    supervisor = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    yield supervisor
    supervisor.stop()


def submitted(sim, *, to: str | None = None) -> list[dict]:
    entries = sim.network.record.submitted
    return [e for e in entries if to is None or e["recipient"].endswith(to[-9:])]


# ---- a bare host on a virtual modem's pty (plain os.read/os.write, not the driver) ---------------
class Host:
    """A serial host on the pty: write bytes, read until a pattern appears."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def send(self, data: bytes | str) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def _fill(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.fd, 4096)
        if not chunk:
            raise EOFError
        self.buf += chunk
        return True

    def expect(self, pattern: bytes | str, timeout: float = 3.0) -> re.Match:
        """Wait for `pattern`; consume the buffer up to the end of the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            if m := rx.search(self.buf):
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen; got {self.buf!r}")
            self._fill(left)

    def quiet(self, seconds: float) -> bytes:
        """Everything that arrives within `seconds` (to prove nothing, or only noise, came)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._fill(left)
        data, self.buf = self.buf, b""
        return data

    def at(self, command: str, timeout: float = 3.0) -> str:
        """Send a command, return everything up to and including its final result code."""
        self.send(command + "\r")
        m = self.expect(rb"(.*?\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*|COMMAND NOT SUPPORT)\r\n)", timeout)
        return m.group(1).decode("latin-1")


def _wait_registered(host: Host) -> None:
    deadline = time.monotonic() + 10
    while ",1" not in host.at("AT+CREG?"):
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.fixture(name="sim_options")
def two_modems() -> dict:
    """The `sim` fixture's modems for the bare-host tests (imported in place of conftest's): two of
    the default profile."""
    return {"count": 2}


@pytest.fixture
def hosts(sim):
    opened: list[Host] = []

    def open_host(name: str = "sim1", echo_off: bool = True) -> Host:
        host = Host(sim.ports[name].path)
        opened.append(host)
        if echo_off:
            host.expect(r"\r\n(SMS Ready|\+QIND: PB DONE|\^SRVST:2)\r\n")
            assert host.at("ATE0").endswith("OK\r\n")
            _wait_registered(host)
            host.quiet(0.02)
        return host

    yield open_host
    for host in opened:
        host.close()


def _make(tmp_path, profile: str, **kwargs) -> "Simulation":
    return virtual_modems(tmp_path, profile=profile, **kwargs)


@contextmanager
def _ready_host(tmp_path, profile: str) -> Iterator[tuple[VirtualModem, Host]]:
    """sim1 of a fresh `profile` simulation and a host on it, once its SMS service is up, echo off,
    registered."""
    with _make(tmp_path, profile) as s:
        host = Host(s.ports["sim1"].path)
        try:
            host.expect(r"(SMS Ready|PB DONE|\^SRVST:2)\r\n")
            host.at("ATE0")
            _wait_registered(host)
            yield s.ports["sim1"].modem, host
        finally:
            host.close()


def _send_pdu(host: Host, number: str, text: str, **kwargs) -> list[str]:
    answers = []
    for part in encode_submit(number, text, **kwargs):
        host.send(f"AT+CMGS={part.tpdu_length}\r")
        host.expect(r"\r\n> ")
        host.send(part.hex + "\x1a")
        answers.append(host.expect(r"\r\n(\+CMGS: \d+\r\n\r\nOK|\+CMS ERROR: \d+)\r\n").group(1).decode())
    return answers
