"""`gsmgw modem info|send`: one modem spoken to directly, without the daemon."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict

from gateway.cli.common import Commands
from gateway.core import logs
from modem.errors import ModemError
from modem.pdu import StatusReport
from modem.report_match import matches_any
from modem.session import InboundSms, SendFailed
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor


def register(commands: Commands) -> None:
    modem = commands.add_parser("modem", help="talk to one modem directly (no daemon)").add_subparsers(dest="modem_command")
    info = modem.add_parser("info", help="identity and health of a modem")
    send = modem.add_parser("send", help="send one SMS directly and wait for its status report")
    for sub in (info, send):
        sub.add_argument("--config")
        sub.add_argument("--port", required=True, help="serial device, pty path or socket://host:port")
        sub.add_argument("--baudrate", type=int, default=115200)
        sub.add_argument("--rtscts", action="store_true", help="hardware flow control (not on 3-wire UARTs)")
        sub.add_argument("--pin", default="", help="SIM PIN, if the SIM asks for one")
        sub.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the modem to be ready")
        sub.add_argument("--json", action="store_true", help="print JSON")
    send.add_argument("to")
    send.add_argument("text")
    send.add_argument("--report-timeout", type=float, default=60.0, help="seconds to wait for status reports (0: don't wait)")
    info.set_defaults(func=_modem_info)
    send.set_defaults(func=_modem_send)


class _Collector:
    """Inbound handler for the direct commands: keeps status reports, leaves SMS on the SIM."""

    def __init__(self) -> None:
        self.reports: list[StatusReport] = []
        self.changed = threading.Condition()

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        return False  # not ours to take: the daemon will store it

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        with self.changed:
            self.reports.append(report)
            self.changed.notify_all()
        return True


def _direct(args: argparse.Namespace, handler: _Collector) -> ModemSupervisor:
    settings = ModemSettings(name="modem", port=args.port, baudrate=args.baudrate, rtscts=args.rtscts,
                             pin=args.pin, registration_timeout_s=args.timeout, backoff=(1.0,))
    supervisor = ModemSupervisor(settings, handler)
    supervisor.start()
    done = {ModemState.READY, ModemState.SIM_ERROR, ModemState.NO_NETWORK}
    if not supervisor.wait_for(done, args.timeout) or supervisor.state is not ModemState.READY:
        state = supervisor.state
        reason = supervisor.reason or "no answer"
        supervisor.stop()
        raise ModemError(f"modem not ready: {state.value} ({reason})")
    return supervisor


def _modem_info(args: argparse.Namespace) -> int:
    logs.configure(None, verbose=args.verbose, serial_log=False)
    try:
        supervisor = _direct(args, _Collector())
    except ModemError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    try:
        with supervisor.session() as session:
            identity, health = session.identity(), session.health()
    except ModemError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()
    info = {"identity": asdict(identity), "health": asdict(health)}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for title, values in info.items():
        print(f"{title}:")
        for key, value in values.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            print(f"  {key:<15} {value if value is not None else '-'}")
    return 0


def _modem_send(args: argparse.Namespace) -> int:
    logs.configure(None, verbose=args.verbose, serial_log=False)
    collector = _Collector()
    try:
        supervisor = _direct(args, collector)
    except ModemError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    try:
        with supervisor.session() as session:
            try:
                parts = session.send(args.to, args.text)
                failed = None
            except SendFailed as exc:
                parts, failed = exc.sent, exc
            except ValueError as exc:  # invalid number
                print(f"FAIL {exc}", file=sys.stderr)
                return 2
        for part in parts:
            print(f"part {part.seq}/{part.total}: accepted, reference {part.reference}")
        if failed is not None:
            print(f"part {failed.failed_seq}: FAILED: {failed.cause}", file=sys.stderr)
            return 1
        outstanding = [(args.to, part.reference) for part in parts]
        deadline = time.monotonic() + args.report_timeout
        reported: set[int | None] = set()
        with collector.changed:
            while len(reported) < len(parts) and time.monotonic() < deadline:
                for report in collector.reports:
                    if matches_any(report, outstanding) and report.reference not in reported:
                        reported.add(report.reference)
                        print(f"reference {report.reference}: status report {report.outcome} "
                              f"(TP-Status 0x{report.status:02X}) at {report.discharged_at.isoformat()}")
                collector.changed.wait(max(0.0, min(1.0, deadline - time.monotonic())))
        if args.report_timeout and len(reported) < len(parts):
            print(f"no status report for {len(parts) - len(reported)} part(s) within {args.report_timeout:g} s")
        return 0
    except ModemError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()
