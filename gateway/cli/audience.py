"""`gsmgw contacts import|export`, `gsmgw optout` and `gsmgw optin`: contacts and their consent."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from gateway.cli.common import Commands, add_command, opened


def register(commands: Commands) -> None:
    contacts = commands.add_parser("contacts", help="contacts: CSV import and export").add_subparsers(dest="contacts_command")
    contacts_import = contacts.add_parser("import", help="import contacts from a CSV file; reports every rejected row")
    contacts_import.add_argument("--config")
    contacts_import.add_argument("file", help="CSV (UTF-8) with a number column; see gateway/audience/contacts_csv.py")
    contacts_import.add_argument("--json", action="store_true", help="print the whole per-row report as JSON")
    contacts_import.set_defaults(func=_contacts_import)
    contacts_export = contacts.add_parser("export", help="write every contact as CSV")
    contacts_export.add_argument("--config")
    contacts_export.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    contacts_export.set_defaults(func=_contacts_export)

    for name, help_text in (("optout", "record an opt-out (queued marketing to the number is suppressed)"),
                            ("optin", "record an opt-in (with double opt-in: ask the number to reply YES)")):
        consent_cmd = add_command(commands, name, help_text)
        consent_cmd.add_argument("number")
        consent_cmd.add_argument("--source", choices=["staff", "web_form", "api", "import", "keyword"], default="staff")
        consent_cmd.add_argument("--detail", default=None, help="proof or reason, kept in the consent ledger")
        if name == "optout":
            consent_cmd.add_argument("--all", action="store_true", help="stop transactional messages too (STOPALL)")
        consent_cmd.set_defaults(func=_consent)


def _contacts_import(args: argparse.Namespace) -> int:
    from gateway.audience import contacts_csv
    from gateway.core.clock import Clock

    with opened(args) as (cfg, queue, _):
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
    if args.json:
        print(json.dumps({"summary": report.summary(), "rows": [asdict(r) for r in report.rows]}, ensure_ascii=False))
    else:
        for row in report.rows:
            if row.outcome in ("rejected", "merged") or row.reason:
                print(f"line {row.line}: {row.outcome}: {row.number or '-'}: {row.reason}")
        print(", ".join(f"{count} {outcome}" for outcome, count in report.summary().items()))
    return 1 if report.count("rejected") else 0


def _contacts_export(args: argparse.Namespace) -> int:
    from gateway.audience import contacts_csv

    with opened(args) as (_, queue, _):
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = contacts_csv.export(queue.sessions, out)
            print(f"{count} contacts written to {args.output}", file=sys.stderr)
        else:
            contacts_csv.export(queue.sessions, sys.stdout)
    return 0


def _consent(args: argparse.Namespace) -> int:
    from gateway.consent.optin import Audience, OptInRefused
    from gateway.core.clock import Clock
    from gateway.settings.effective import Effective

    with opened(args) as (cfg, queue, webhooks):
        audience = Audience(queue.sessions, Clock(), queue, settings=Effective(cfg, queue.sessions).consent,
                            default_region=cfg.gateway.default_region)
        webhooks.attach(queue, audience=audience)
        try:
            if args.command == "optout":
                outcome = audience.opt_out(args.number, source=args.source,
                                           scope="all" if args.all else "marketing", detail=args.detail)
            else:
                outcome = audience.opt_in(args.number, source=args.source, detail=args.detail)
        except OptInRefused as exc:  # STOPALL: a confirmation request would not reach them
            print(f"not recorded: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:  # InvalidNumber: says what is wrong with the number
            print(f"not recorded: {exc}", file=sys.stderr)
            return 2
    event = outcome.event
    print(f"{outcome.contact.number}: {event.kind} ({event.scope}, {event.source}) recorded at {event.at.isoformat()}")
    if outcome.requested and outcome.confirmation_id is None:
        print(f"not opted in: {outcome.reason}; consent starts when they reply YES")
    elif outcome.requested:
        print(f"not opted in: {outcome.reason}; confirmation request queued as message {outcome.confirmation_id}, "
              "consent starts when they reply YES")
    return 0
