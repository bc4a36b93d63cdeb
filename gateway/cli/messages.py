"""`gsmgw send` and `gsmgw status`: queue a message; modems, limits and queue depth."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.cli.common import Commands, add_command, opened


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

    with opened(args) as (_, queue, _):
        try:
            message = queue.enqueue(args.to, args.text, priority=args.priority, kind=args.kind, sim=args.sim,
                                    expires_in=args.expires_in, source="cli")
        except RejectedMessage as exc:
            print(f"not queued: {exc}", file=sys.stderr)
            return 2
    print(message.id)
    return 0


def _status(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from gateway.core.clock import Clock
    from gateway.daemon import limits_of
    from gateway.settings.effective import Effective
    from gateway.sims.history import SendHistory
    from gateway.sims.models import Modem
    from gateway.sims.windows import SimWindows
    from modem.session import Identity

    with opened(args) as (cfg, queue, _):
        with queue.sessions() as session:
            modems = {row.name: row for row in session.scalars(select(Modem)).all()}
        sections = {section.name: section for section in cfg.modems}
        clock = Clock()
        history, by_sim = SendHistory(queue.sessions, clock), Effective(cfg, queue.sessions).sim_limits()
        report = {"queue": queue.depth(), "modems": []}
        for name in sorted(set(modems) | set(sections)):
            row = modems.get(name)
            entry = {"name": name, "state": row.state if row else "never seen",
                     "reason": row.reason if row else None,
                     "operator": row.operator if row else None,
                     "signal_bars": row.signal_bars if row else None}
            if name in sections:  # the SIM it held when last seen: its own counts and limits
                held = Identity(row.manufacturer or "", row.model or "", "", row.imei or "", row.imsi,
                                row.iccid) if row else None
                own = limits_of(sections[name])
                windows = SimWindows(name, history, clock, own, lambda identity, own=own: by_sim.of(identity, own))
                windows.follow(held)
                entry["limits"] = {u.window: {"used": u.used, "left": u.left, "cap": u.cap}
                                   for u in windows.usage()}
                entry["next_slot_in_s"] = round(windows.wait(), 1)
            report["modems"].append(entry)
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
