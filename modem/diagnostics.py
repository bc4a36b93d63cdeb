"""Technician checks on one modem: each returns PASS or FAIL with a reason a person can act on.

The hw-test scripts are thin programs over this, so the same checks run on a real modem, on a
virtual one (dry run), and in the test suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modem.errors import ModemError
from modem.pdu import StatusReport
from modem.report_match import matches_any
from modem.session import InboundSms, ModemSession, SendFailed
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


class _Reports:
    """Collects status reports; leaves inbound SMS on the SIM for the daemon."""

    def __init__(self) -> None:
        self.reports: list[StatusReport] = []

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        return False

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        self.reports.append(report)
        return True


def run_checks(settings: ModemSettings, *, send_to: str | None = None, min_bars: int = 1,
               ready_timeout: float = 60.0, report_timeout: float = 60.0) -> Iterator[Check]:
    """Yield checks in order; stops early when a later check could only fail for the same reason."""
    collector = _Reports()
    supervisor = ModemSupervisor(settings, collector)
    supervisor.start()
    try:
        settled = {ModemState.READY, ModemState.SIM_ERROR, ModemState.NO_NETWORK}
        supervisor.wait_for(settled, ready_timeout)
        if supervisor.identity is None:
            yield Check("modem answers", False, f"{supervisor.state.value}: {supervisor.reason or 'no answer on ' + settings.port}")
            return
        ident = supervisor.identity
        yield Check("modem answers", True, f"{ident.manufacturer} {ident.model} firmware {ident.firmware}")
        yield Check("IMEI", bool(ident.imei), ident.imei or "modem did not tell")
        if supervisor.state is ModemState.SIM_ERROR:
            yield Check("SIM ready", False, supervisor.reason)
            return
        yield Check("SIM ready", bool(ident.imsi), f"IMSI {ident.imsi} ICCID {ident.iccid or '-'}")
        health = supervisor.health
        if supervisor.state is not ModemState.READY or health is None:
            yield Check("network registration", False, supervisor.reason or supervisor.state.value)
            return
        yield Check("network registration", True, f"{health.registration} on {health.operator or '?'}")
        yield Check("signal", health.signal.bars >= min_bars,
                    f"{health.signal.bars}/5 bars ({health.signal.dbm} dBm, CSQ {health.signal.csq})")
        yield Check("service centre (SMSC)", bool(health.smsc), health.smsc or "not set: set smsc in the config")
        if health.storage_total is not None:
            yield Check("SIM message storage", (health.storage_used or 0) < health.storage_total,
                        f"{health.storage_used}/{health.storage_total} used")
        if send_to:
            yield from _send_check(supervisor, collector, send_to, report_timeout)
    finally:
        supervisor.stop()


def _send_check(supervisor: ModemSupervisor, collector: _Reports, to: str, timeout: float) -> Iterator[Check]:
    try:
        with supervisor.session() as session:
            parts = _send(session, to)
    except (ModemError, ValueError) as exc:
        yield Check("send SMS", False, str(exc))
        return
    yield Check("send SMS", True, "accepted, reference " + ", ".join(str(p.reference) for p in parts))
    outstanding = [(to, p.reference) for p in parts]
    report = _wait(lambda: next((r for r in collector.reports if matches_any(r, outstanding)), None), timeout)
    if report is None:
        yield Check("delivery report", False, f"none within {timeout:g} s (the SIM's plan may not offer reports)")
    else:
        yield Check("delivery report", report.outcome == "delivered", f"{report.outcome} (TP-Status 0x{report.status:02X})")


def _send(session: ModemSession, to: str) -> list:
    try:
        return session.send(to, "gsmgw hardware test")
    except SendFailed as exc:
        raise ModemError(f"the modem refused the message: {exc.cause}") from exc


def _wait(probe: Callable[[], StatusReport | None], timeout: float) -> StatusReport | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    return None
