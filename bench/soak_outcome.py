"""The soak's outcome (bench/soak.py): what the daemon's database says of the soak's messages and
SMS, and whether that is settled, read while it drains and judged at the end."""

from __future__ import annotations

import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.outbound.report_wait import message_report

FINAL = {"delivered", "failed", "expired", "cancelled", "unknown", "suppressed"}
TOKEN = re.compile(r"soak-in-\d+-\d{5}")  # what every SMS the soak injects starts with


def query(directory: Path, sql: str) -> list[tuple]:
    """Rows of `sql` from the daemon's database: its SQLite file in `directory`/data, read-only, or
    the database GSMGW_DATABASE_URL names (which the daemon's config takes too)."""
    url = os.environ.get("GSMGW_DATABASE_URL")
    if url:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()
    with sqlite3.connect(f"file:{directory / 'data' / 'gsmgw.db'}?mode=ro", uri=True, timeout=30) as con:
        return con.execute(sql).fetchall()


def read(directory: Path, message_ids: Iterable[int]) -> dict[str, Any]:
    """The soak's messages' (status, SIM, SIM asked for), which of them a part has left, each one's
    report state, and how often each injected SMS's token was stored."""
    rows = query(directory, "SELECT id, status, sim, sim_requested FROM messages")
    parts: dict[int, list[str]] = {}
    for message_id, part_status in query(directory, "SELECT message_id, status FROM message_parts"):
        parts.setdefault(message_id, []).append(part_status)
    half_sent = {m for m, statuses in parts.items() if any(s != "pending" for s in statuses)}
    inbound = [t for (t,) in query(directory, "SELECT text FROM inbound_messages")]
    ours = set(message_ids)
    statuses = {mid: (status, sim, requested) for mid, status, sim, requested in rows if mid in ours}
    seen: Counter[str] = Counter()
    for text in inbound:
        match = TOKEN.match(text)
        if match:
            seen[match.group(0)] += 1
    reports = {mid: message_report(parts.get(mid, [])) for mid in ours}
    return {"statuses": statuses, "half_sent": half_sent, "inbound": seen, "reports": reports}


def awaiting(outcome: dict[str, Any]) -> tuple[int, int]:
    """(`sent` messages a part of which still waits for its report, those none will come for)."""
    sent = [mid for mid, (status, _, _) in outcome["statuses"].items() if status == "sent"]
    given_up = sum(1 for mid in sent if outcome["reports"][mid] == "none")
    return len(sent) - given_up, given_up


def settled(outcome: dict[str, Any], states: dict[str, str]) -> tuple[int, int, int]:
    """(not final and stuck, waiting for a resting SIM, queued for a ready SIM)."""
    stuck = resting = waiting = 0
    ready = [n for n, s in states.items() if s == "ready"]
    for mid, (status, sim, requested) in outcome["statuses"].items():
        if status in FINAL or status == "sent":  # sent: counted by `awaiting`
            continue
        needs = requested or (sim if mid in outcome["half_sent"] else None)
        if status == "queued" and (ready if needs is None else needs in ready):
            waiting += 1
        elif status == "queued" and needs is not None and states.get(needs) == "out_of_rotation":
            resting += 1
        else:
            stuck += 1
    return stuck, resting, waiting


def invariants_hold(result: dict[str, Any]) -> bool:
    """Every invariant of the soak's docstring held: the exit code's 0."""
    return (result["duplicates"] == 0 and result["lost_inbound"] == 0 and result["sims_locked"] == 0
            and result["not_final"] == 0 and result["daemon_exit"] == 0 and not result["errors"]
            and "sim_error" in result["modem_states_seen"][result["wrong_pin"]["modem"]])
