"""`gsmgw send` and `gsmgw status`: queue a message; modems, limits and queue depth."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from gateway.cli.common import Commands, add_command, config_of, open_queue


def register(commands: Commands) -> None:
    send_cmd = add_command(commands, "send", "queue a message (the daemon sends it; works whether or not it runs)")
    send_cmd.add_argument("to")
    send_cmd.add_argument("text")
    send_cmd.add_argument("--priority", choices=["high", "normal", "bulk"], default="normal")
    send_cmd.add_argument("--kind", choices=["transactional", "marketing"], default="transactional")
    send_cmd.add_argument("--sim", default=None, help="send from this SIM only")
    send_cmd.add_argument("--expires-in", type=float, default=None, metavar="SECONDS")
    send_cmd.set_defaults(func=_send)

    status = add_command(commands, "status", "modems, limits and queue depth")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)


def _send(args: argparse.Namespace) -> int:
    from gateway.outbound.new_message import RejectedMessage

    cfg = config_of(args)
    engine, queue, _ = open_queue(cfg)
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
    from gateway.outbound.limits import next_slot, usage
    from gateway.sims.models import Modem

    cfg = config_of(args)
    engine, queue, _ = open_queue(cfg)
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
