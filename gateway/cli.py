"""The `gsmgw` command line: thin commands over the library, with clear exit codes."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from dataclasses import asdict

from gateway import config as config_module
from gateway import logs
from modem.errors import ModemError
from modem.pdu import StatusReport
from modem.report_match import matches_any
from modem.session import InboundSms, SendFailed
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except config_module.ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gsmgw", description="SMS gateway for GSM modems")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", help="config file (default: $GSMGW_CONFIG, then /etc/gsmgw/gsmgw.toml)")
        return sub

    run = command("run", "run the gateway daemon")
    run.add_argument("--simulate", type=int, default=0, metavar="N", help="use N virtual modems instead of the configured ones")
    run.set_defaults(func=_run)

    simulate = command("simulate", "run virtual modems alone and print their port paths")
    simulate.add_argument("count", type=int, nargs="?", default=2)
    simulate.add_argument("--dir", default=None, help="where the port links go (default: <data_dir>/virtual-modems)")
    simulate.add_argument("--profile", default=None, help="sim800, e3131, ec25 or generic")
    simulate.add_argument("--tcp", action="store_true", help="also listen on TCP (socket://127.0.0.1:PORT)")
    simulate.add_argument("--control", default=None, help="control socket: a path, or 127.0.0.1:PORT")
    simulate.set_defaults(func=_simulate)

    send_cmd = command("send", "queue a message (the daemon sends it; works whether or not it runs)")
    send_cmd.add_argument("to")
    send_cmd.add_argument("text")
    send_cmd.add_argument("--priority", choices=["high", "normal", "bulk"], default="normal")
    send_cmd.add_argument("--kind", choices=["transactional", "marketing"], default="transactional")
    send_cmd.add_argument("--sim", default=None, help="send from this SIM only")
    send_cmd.add_argument("--expires-in", type=float, default=None, metavar="SECONDS")
    send_cmd.set_defaults(func=_send)

    status = command("status", "modems, limits and queue depth")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    apikey = commands.add_parser("apikey", help="API keys for LAN apps").add_subparsers(dest="apikey_command")
    key_create = apikey.add_parser("create", help="create a key and print it (the only time it is shown)")
    key_create.add_argument("--name", required=True, help="who uses it, e.g. 'web shop'")
    key_create.add_argument("--scopes", default="send,read",
                            help="comma-separated: send, contacts, read, admin (default: send,read)")
    key_create.add_argument("--json", action="store_true")
    key_create.set_defaults(func=_apikey_create)
    key_list = apikey.add_parser("list", help="keys with their prefix, scopes and state (never the key itself)")
    key_list.add_argument("--json", action="store_true")
    key_list.set_defaults(func=_apikey_list)
    key_revoke = apikey.add_parser("revoke", help="revoke a key at once (it stays in the list, revoked)")
    key_revoke.add_argument("id", type=int)
    key_revoke.set_defaults(func=_apikey_revoke)
    key_scopes = apikey.add_parser("scopes", help="give a key exactly these scopes (its token stays)")
    key_scopes.add_argument("id", type=int)
    key_scopes.add_argument("scopes", help="comma-separated: send, contacts, read, admin")
    key_scopes.set_defaults(func=_apikey_scopes)
    for sub in (key_create, key_list, key_revoke, key_scopes):
        sub.add_argument("--config")

    dbc = commands.add_parser("db", help="database").add_subparsers(dest="db_command")
    upgrade = dbc.add_parser("upgrade", help="apply migrations (the daemon also does this on start)")
    upgrade.add_argument("--config")
    upgrade.set_defaults(func=_db_upgrade)

    check = commands.add_parser("config", help="configuration").add_subparsers(dest="config_command")
    check_cmd = check.add_parser("check", help="validate the config file without starting anything")
    check_cmd.add_argument("--config")
    check_cmd.set_defaults(func=_config_check)

    contacts = commands.add_parser("contacts", help="contacts: CSV import and export").add_subparsers(dest="contacts_command")
    contacts_import = contacts.add_parser("import", help="import contacts from a CSV file; reports every rejected row")
    contacts_import.add_argument("--config")
    contacts_import.add_argument("file", help="CSV (UTF-8) with a number column; see gateway/contacts_csv.py")
    contacts_import.add_argument("--json", action="store_true", help="print the whole per-row report as JSON")
    contacts_import.set_defaults(func=_contacts_import)
    contacts_export = contacts.add_parser("export", help="write every contact as CSV")
    contacts_export.add_argument("--config")
    contacts_export.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    contacts_export.set_defaults(func=_contacts_export)

    for name, help_text in (("optout", "record an opt-out (queued marketing to the number is suppressed)"),
                            ("optin", "record an opt-in (with double opt-in: ask the number to reply YES)")):
        consent_cmd = command(name, help_text)
        consent_cmd.add_argument("number")
        consent_cmd.add_argument("--source", choices=["staff", "web_form", "api", "import", "keyword"], default="staff")
        consent_cmd.add_argument("--detail", default=None, help="proof or reason, kept in the consent ledger")
        if name == "optout":
            consent_cmd.add_argument("--all", action="store_true", help="stop transactional messages too (STOPALL)")
        consent_cmd.set_defaults(func=_consent)

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
    return parser


def _config(args: argparse.Namespace, *, required: bool = True) -> config_module.Config:
    return config_module.load(getattr(args, "config", None), required=required)


def _run(args: argparse.Namespace) -> int:
    from gateway.daemon import Daemon

    cfg = _config(args, required=not args.simulate)
    logs.configure(cfg.gateway.data_dir, verbose=args.verbose)
    Daemon(cfg, simulate=args.simulate).run_forever()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from modem.virtual.cli import run_simulator

    cfg = _config(args, required=False)
    logs.configure(None, verbose=args.verbose, serial_log=False)
    directory = args.dir or f"{cfg.gateway.data_dir}/virtual-modems"
    simulator = run_simulator(args.count, directory=directory, profile=args.profile or cfg.simulator.profile,
                              tcp=args.tcp, latency=cfg.simulator.latency_s, control=args.control,
                              report_delay=cfg.simulator.report_delay_s)
    print("Virtual modems running; press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
    return 0


def _queue(cfg: config_module.Config):
    """(engine, queue, webhooks): the queue with the daemon's status hooks, so what a command
    changes reaches webhooks too (the running daemon delivers them)."""
    from gateway import db
    from gateway.clock import Clock
    from gateway.daemon import with_status_hooks
    from gateway.queue import Queue

    engine = db.make_engine(cfg.database_url)
    db.upgrade(engine)
    queue = Queue(db.sessions(engine), Clock(), default_region=cfg.gateway.default_region)
    return engine, queue, with_status_hooks(queue, queue.clock)


def _db_upgrade(args: argparse.Namespace) -> int:
    cfg = _config(args)
    engine, _, _ = _queue(cfg)
    engine.dispose()
    print(f"database at the newest schema: {cfg.database_url}")
    return 0


def _send(args: argparse.Namespace) -> int:
    from gateway.queue import RejectedMessage

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        message = queue.enqueue(args.to, args.text, priority=args.priority, kind=args.kind, sim=args.sim,
                                expires_in=args.expires_in, source="cli")
    except RejectedMessage as exc:
        print(f"not queued: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(message.id)
    return 0


def _status(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from gateway.daemon import limits_of
    from gateway.limits import next_slot, usage
    from gateway.models import Modem

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        with queue.sessions() as session:
            modems = {row.name: row for row in session.scalars(select(Modem)).all()}
        sections = {section.name: section for section in cfg.modems}
        now = time.time()
        report = {"queue": queue.depth(), "modems": []}
        for name in sorted(set(modems) | set(sections)):
            row = modems.get(name)
            entry = {"name": name, "state": row.state if row else "never seen",
                     "reason": row.reason if row else None,
                     "operator": row.operator if row else None,
                     "signal_bars": row.signal_bars if row else None}
            if name in sections:
                limits = limits_of(sections[name])
                times = queue.submission_times(name, datetime.fromtimestamp(now - limits.longest_window, UTC))
                entry["limits"] = {u.window: {"used": u.used, "left": u.left, "cap": u.cap}
                                   for u in usage(times, limits, now)}
                entry["next_slot_in_s"] = round(max(0.0, next_slot(times, limits, now) - now), 1)
            report["modems"].append(entry)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("queue: " + (", ".join(f"{k} {v}" for k, v in sorted(report["queue"].items())) or "empty"))
    for entry in report["modems"]:
        line = f"{entry['name']:<8} {entry['state']:<12} {entry['operator'] or '-':<16} bars {entry['signal_bars'] if entry['signal_bars'] is not None else '-'}"
        if "limits" in entry:
            line += "  " + " ".join(f"{w}: {v['used']}/{v['cap']}" for w, v in entry["limits"].items())
            line += f"  next part in {entry['next_slot_in_s']:g} s"
        print(line)
    return 0


def _apikey_create(args: argparse.Namespace) -> int:
    from gateway import apikeys
    from gateway.clock import Clock

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        new = apikeys.create(queue.sessions, Clock(), args.name, args.scopes)
    except ValueError as exc:
        print(f"not created: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({**new.info.as_dict(), "token": new.token, "signing_secret": new.signing_secret}, indent=2))
        return 0
    print(f"key {new.info.id} ({new.info.name}, scopes {','.join(sorted(new.info.scopes))}):")
    print(f"  {new.token}")
    print(f"signing secret for its callback_url webhooks: {new.signing_secret}")
    print("Store both now: they are not shown again.")
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from gateway import apikeys

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        keys = apikeys.list_keys(queue.sessions)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps([k.as_dict() for k in keys], indent=2))
        return 0
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(f"{key.id:>4}  {key.prefix}…  {key.name:<20} {','.join(sorted(key.scopes)):<16} {state:<24} last used {used}")
    if not keys:
        print("no API keys (create one: gsmgw apikey create --name NAME --scopes send,read)")
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from gateway import apikeys
    from gateway.clock import Clock

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        key = apikeys.revoke(queue.sessions, Clock(), args.id)
    finally:
        engine.dispose()
    if key is None:
        print(f"no key {args.id}", file=sys.stderr)
        return 1
    print(f"key {key.id} ({key.name}) revoked")
    return 0


def _apikey_scopes(args: argparse.Namespace) -> int:
    from gateway import apikeys

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        key = apikeys.set_scopes(queue.sessions, args.id, args.scopes)
    except ValueError as exc:
        print(f"not changed: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if key is None:
        print(f"no key {args.id}", file=sys.stderr)
        return 1
    print(f"key {key.id} ({key.name}): scopes {','.join(sorted(key.scopes))}")
    return 0


def _contacts_import(args: argparse.Namespace) -> int:
    from gateway import contacts_csv
    from gateway.clock import Clock

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        with open(args.file, "rb") as handle:
            report = contacts_csv.import_file(queue.sessions, handle, clock=Clock(),
                                              default_region=cfg.gateway.default_region)
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except contacts_csv.CsvFileError as exc:
        print(f"{args.file}: nothing imported: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"summary": report.summary(), "rows": [asdict(r) for r in report.rows]}, ensure_ascii=False))
    else:
        for row in report.rows:
            if row.outcome in ("rejected", "merged") or row.reason:
                print(f"line {row.line}: {row.outcome}: {row.number or '-'}: {row.reason}")
        print(", ".join(f"{count} {outcome}" for outcome, count in report.summary().items()))
    return 1 if report.count("rejected") else 0


def _contacts_export(args: argparse.Namespace) -> int:
    from gateway import contacts_csv

    cfg = _config(args)
    engine, queue, _ = _queue(cfg)
    try:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = contacts_csv.export(queue.sessions, out)
            print(f"{count} contacts written to {args.output}", file=sys.stderr)
        else:
            contacts_csv.export(queue.sessions, sys.stdout)
    finally:
        engine.dispose()
    return 0


def _consent(args: argparse.Namespace) -> int:
    from gateway.audience import Audience, OptInRefused
    from gateway.clock import Clock

    cfg = _config(args)
    engine, queue, webhooks = _queue(cfg)
    audience = Audience(queue.sessions, Clock(), queue, settings=cfg.consent, default_region=cfg.gateway.default_region)
    webhooks.attach(queue, audience=audience)
    try:
        if args.command == "optout":
            outcome = audience.opt_out(args.number, source=args.source, scope="all" if args.all else "marketing",
                                       detail=args.detail)
        else:
            outcome = audience.opt_in(args.number, source=args.source, detail=args.detail)
    except OptInRefused as exc:  # STOPALL: a confirmation request would not reach them
        print(f"not recorded: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # InvalidNumber: says what is wrong with the number
        print(f"not recorded: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    event = outcome.event
    print(f"{outcome.contact.number}: {event.kind} ({event.scope}, {event.source}) recorded at {event.at.isoformat()}")
    if outcome.requested and outcome.confirmation_id is None:
        print(f"not opted in: {outcome.reason}; consent starts when they reply YES")
    elif outcome.requested:
        print(f"not opted in: {outcome.reason}; confirmation request queued as message {outcome.confirmation_id}, "
              "consent starts when they reply YES")
    return 0


def _config_check(args: argparse.Namespace) -> int:
    cfg = _config(args)
    print(f"{cfg.source}: OK ({len(cfg.modems)} modem(s), database {cfg.database_url})")
    for modem in cfg.modems:
        print(f"  {modem.name}: {_found_by(modem, cfg.gateway.serial_scan)}")
    return 0


def _found_by(modem: config_module.ModemSection, scan: tuple[str, ...]) -> str:
    """How the daemon will find a configured modem, for `config check`."""
    named = " and ".join(f"{key} {value}" for key, value in (("IMEI", modem.imei), ("ICCID", modem.iccid)) if value)
    if not named:
        return f"on {modem.port}"
    first = f"{modem.port}, then " if modem.port else ""
    return f"the modem with {named}, looked for on {first}{', '.join(scan)}"


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
                             pin=args.pin, registration_timeout=args.timeout, backoff=(1.0,))
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


if __name__ == "__main__":
    sys.exit(main())
