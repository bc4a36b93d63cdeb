"""The send path's steps per part, after the claim: submitting, sent, then the status reports that settle it.

`gateway.outbound.transitions` has the rest (enqueue, the claim, the moves between states) and the
prepared statements and event rows these use; each is still the body of one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.outbound import change_facts
from gateway.outbound.claims import Accepted
from gateway.outbound.early_reports import KeptEarly
from gateway.outbound.models import MessageStatus, PartStatus, Priority
from gateway.outbound.transitions import MESSAGES, MORE_URGENT, NOT_SENDING, PARTS, SQL, Changes, event, record_events
from gateway.sims import history
from modem import report_match
from modem.pdu import StatusReport


def submitting(conn: Connection, part_id: int, modem: str, now: datetime, unless_more_urgent_than: int | None,
               check: Callable[[Connection], object | None] | None, send: Callable[[], dict[str, Any]] | None,
               after: Accepted | None, kept: KeptEarly) -> tuple[object | None, Changes]:
    """(None if the part is now `submitting`, else what held it; `after` is recorded either way).
    `check` runs first and holds the part if it returns something; `send()` makes the part's row
    in the SIM's history (`sim_sends`), stored with it. The send path's only commit between two sends."""
    events, changes = _sent(conn, after, now, kept) if after is not None else ([], [])
    held = check(conn) if check is not None else None  # before the part's write: a held part needs no undo
    if held is not None:
        record_events(conn, events)
        return held, changes
    urgent = unless_more_urgent_than is not None and unless_more_urgent_than > Priority.HIGH
    values = {"part_id": part_id, "modem": modem, "now": now, **({"priority": unless_more_urgent_than} if urgent else {})}
    name = "submitting_unless_more_urgent" if urgent else "submitting"
    sends = send() if send is not None else None
    if conn.dialect.name == "postgresql":  # one round trip: the part, its event and its send
        row = SQL[f"{name}_logged"](conn, {**values, "event_detail": modem, "record_send": sends is not None,
                                            **{f"send_{k}": v for k, v in (sends or _NO_SEND).items()}}).first()
    else:
        row = SQL[name](conn, values).first()
        if row is not None:
            events.append(event(row.message_id, PartStatus.SUBMITTING, now, modem, row.seq))
            if sends is not None:
                history.record(conn, {**sends, "part_id": part_id})
    record_events(conn, events)
    if row is not None:
        return None, changes
    if urgent and SQL["still_ours"](conn, {"part_id": part_id, "modem": modem}).first() is not None:
        return MORE_URGENT, changes
    return NOT_SENDING, changes


_NO_SEND = dict.fromkeys(("sim", "modem", "to_number", "at", "monotonic", "boot"))


def sent(conn: Connection, accepted: Accepted, now: datetime, kept: KeptEarly) -> tuple[None, Changes]:
    """Mark a part sent; after the message's last part, the message too; then the status reports
    that came for it before this commit."""
    events, changes = _sent(conn, accepted, now, kept)
    record_events(conn, events)
    return None, changes


def _sent(conn: Connection, accepted: Accepted, now: datetime,
          kept: KeptEarly) -> tuple[list[dict[str, Any]], Changes]:
    """`sent`, its events (on SQLite still to be recorded; PostgreSQL's statement stores them)
    returned with its changes; when a kept status report applies, they are recorded first, so the
    history reads sent before delivered."""
    values = {"part_id": accepted.part_id, "ref": accepted.reference, "now": now}
    detail = f"reference {accepted.reference}"
    events: list[dict[str, Any]] = []
    if conn.dialect.name == "postgresql":  # one round trip for what SQLite runs as three statements
        row = SQL["sent_with_message"](conn, {**values, "last_part": accepted.last, "event_detail": detail}).one()
        moved = row if row.moved else None
    else:
        row = SQL["sent"](conn, values).one()
        moved = SQL["message_sent"](conn, {"message_id": row.message_id, "now": now}).first() if accepted.last else None
        events.append(event(row.message_id, PartStatus.SENT, now, detail, row.seq))
        if moved is not None:
            events.append(event(row.message_id, MessageStatus.SENT, now))
    changes: Changes = []
    if moved is not None:
        changes.append((int(row.message_id), MessageStatus.SENT))
        change_facts.learn(int(row.message_id), moved)
    if accepted.reference is None or row.modem is None or not kept.may_apply(conn, row.modem, row.submitted_at):
        return events, changes
    early = SQL["early_for"](conn, {"modem": row.modem, "ref": accepted.reference, "part_id": accepted.part_id}).all()
    if early:
        record_events(conn, events)
        events = []
        changes += _early_reports(conn, row.modem, accepted, early, now)
    return events, changes


def _early_reports(conn: Connection, modem: str, accepted: Accepted, kept: Sequence[Any], now: datetime) -> Changes:
    """Apply the kept reports with this part's modem and reference that came after it was submitted."""
    changes: Changes = []
    for early in kept:
        report = StatusReport(accepted.reference, early.recipient, early.sent_at, early.discharged_at, early.status)
        matched, new = apply_report(conn, modem, report, now)
        if matched is not None:
            SQL["early_matched"](conn, {"early_id": early.id, "matched": accepted.part_id})
            if new is not None:
                changes.append((matched, new))
    return changes


def apply_report(conn: Connection, modem: str, report: StatusReport, now: datetime) -> tuple[int | None, str | None]:
    """Match a report to the part this modem sent with that reference and number when the report's
    times say (report_match): (the message it matched, the message's new status if the report
    changed it)."""
    earliest, latest = report_match.submitted_between(report)
    rows = SQL["reported"](conn, {"modem": modem, "ref": report.reference, "earliest": earliest,
                                  "latest": latest}).all()
    best = report_match.best_match(report, (report_match.SentPart(row, row.to_number, report.reference,
                                                                  row.submitted_at, row.sent_at) for row in rows))
    if best is None:
        return None, None
    part = best.key
    values: dict[str, Any] = {"part_id": part.id, "report_status": report.status, "now": now}
    if report.outcome == "pending":
        SQL["report"](conn, values)
        return part.message_id, None
    part_status = PartStatus.DELIVERED if report.outcome == "delivered" else PartStatus.FAILED
    detail = f"status report 0x{report.status:02X}"
    if conn.dialect.name == "postgresql":  # one round trip for what SQLite runs as three statements
        ended = SQL["final_report"](conn, {**values, "part_status": part_status, "of_message": part.message_id,
                                           "reported_seq": part.seq, "report_detail": detail}).first()
        new = ended.status if ended is not None else None
    else:
        ended, new = _final_report(conn, values, part, part_status, detail)
    if ended is not None:
        change_facts.learn(int(part.message_id), ended)
    return part.message_id, new


def _final_report(conn: Connection, values: dict[str, Any], part: Any, part_status: str,
                  detail: str) -> tuple[Any, str | None]:
    """The part's final report (`values`: its id, the report's status, now) and the message's end
    if it makes one, with their events: (the ended message's row, its new status)."""
    now = values["now"]
    SQL["report_final"](conn, {**values, "part_status": part_status})
    events = [event(part.message_id, part_status, now, detail, part.seq)]
    moved = {"message_id": part.message_id, "now": now}
    new: str | None = None
    ended = SQL["delivered_if_all"](conn, moved).first() if part_status == PartStatus.DELIVERED else None
    if ended is not None:
        new = MessageStatus.DELIVERED
    elif (ended := SQL["failed_if_any"](conn, moved).first()) is not None:  # also a part that failed earlier
        new = MessageStatus.FAILED
    if ended is not None:
        events.append(event(part.message_id, new, now))
    record_events(conn, events)
    return ended, new


def no_reports(conn: Connection, sent_before: datetime, now: datetime, batch: int,
               detail: str) -> tuple[int, list[tuple[int, str | None]]]:
    """Record up to `batch` parts `sent` before `sent_before` with no final report as having none
    (oldest first, each a compare-and-set on `sent`, with its event): (how many, and the `sent`
    messages of which no part awaits a report any more, with their SIM)."""
    p, m = PARTS.c, MESSAGES.c
    due = (select(p.id).where(p.status == PartStatus.SENT, p.sent_at <= sent_before)
           .order_by(p.sent_at).limit(batch))
    ids = list(conn.execute(due).scalars())
    if not ids:
        return 0, []
    rows = conn.execute(update(PARTS).where(p.id.in_(ids), p.status == PartStatus.SENT)
                        .values(status=PartStatus.NO_REPORT, report_at=now)
                        .returning(p.message_id, p.seq)).all()
    record_events(conn, [event(row.message_id, PartStatus.NO_REPORT, now, detail, row.seq) for row in rows])
    touched = sorted({row.message_id for row in rows})
    ended = conn.execute(select(m.id, m.sim).where(
        m.id.in_(touched), m.status == MessageStatus.SENT,
        ~select(p.id).where(p.message_id == m.id, p.status == PartStatus.SENT).exists())).all()
    if ended:  # its record is complete: the time says so, and retention may count from it
        conn.execute(update(MESSAGES).where(m.id.in_([row.id for row in ended]), m.status == MessageStatus.SENT)
                     .values(finished_at=now, updated_at=now))
    return len(rows), [(row.id, row.sim) for row in ended]
