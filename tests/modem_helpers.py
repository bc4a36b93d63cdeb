"""Helpers for tests that run the real serial driver against virtual modems on ptys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from modem.pdu import StatusReport
from modem.session import InboundSms
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Wait for something the system under test does (not a fixed sleep): poll until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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
    values: dict[str, Any] = dict(name=name, port=port, command_timeout=1.0, send_timeout=5.0,
                                  check_interval=0.5, registration_timeout=5.0, backoff=(0.2, 0.5, 1.0))
    values.update(overrides)
    return ModemSettings(**values)


def start_supervisor(name: str, port: str, inbox: Inbox, **overrides: Any) -> ModemSupervisor:
    supervisor = ModemSupervisor(fast_settings(name, port, **overrides), inbox)
    supervisor.start()
    assert supervisor.wait_for({ModemState.READY}, 15), f"{name}: {supervisor.state} {supervisor.reason}"
    return supervisor


def assert_stays(predicate: Callable[[], Any], seconds: float = 0.3, what: str = "condition") -> None:
    """A negative check ("nothing is sent"): the predicate must hold for the whole period."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"{what} stopped holding"
        time.sleep(0.02)


def fail_nth_send(modem: Any, nth: int, code: int) -> None:
    """Make the virtual modem answer +CMS ERROR `code` to its `nth` AT+CMGS from now (one part of a
    multipart message), using its own fault injection at the right moment."""
    original = modem.feed
    seen = {"cmgs": 0}

    def feed(data: bytes) -> None:
        if b"AT+CMGS=" in data:
            seen["cmgs"] += 1
            if seen["cmgs"] == nth:
                modem.cms_error(code, times=1)
        original(data)

    modem.feed = feed
