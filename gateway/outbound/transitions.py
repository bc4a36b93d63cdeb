"""The queue's state changes, each the body of one transaction on a connection it is given.

`gateway.outbound.queue.Queue` runs them (with group commit and the status hooks); here is only what
each one reads and writes. Every change of a message is a compare-and-set on its state, so a final
state stays final.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from gateway.audience.models import UNREACHABLE, Contact
from gateway.outbound import change_facts, one_trip
from gateway.outbound.claim_order import due_candidates
from gateway.outbound.claims import Candidate, Claimed
from gateway.outbound.models import EarlyReport, Message, MessageEvent, MessageStatus, Part, PartStatus
from gateway.outbound.new_message import NewMessage
from gateway.sims.models import SimSend
from gateway.store import notify
from gateway.store.db import Prepared
from gateway.webhooks.models import MessageCallback

log = logging.getLogger("gsmgw.queue")
MORE_URGENT = "a more urgent message came first"  # what part_submitting says when it stepped aside
NOT_SENDING = "its message is no longer being sent by this modem"  # ... when the message was settled meanwhile
Changes = list[tuple[int, str]]  # (message id, new status) made by one transaction

# The send path (claim, submitting, sent, status reports) runs as prepared Core statements on these
# tables (db.Prepared): it happens several times per message, and the ORM's unit of work or even
# Connection.execute costs more than the SQL itself.
MESSAGES = Message.__table__
PARTS = Part.__table__
EVENTS = MessageEvent.__table__
EARLY = EarlyReport.__table__
NOT_FINAL = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)
IN_DOUBT = "the gateway stopped before the modem's answer was recorded"


def _statements() -> dict[str, Any]:
    """The send path's statements, built once: building a statement costs more than running it."""
    m, p, e, c = MESSAGES.c, PARTS.c, EARLY.c, MessageCallback.__table__.c
    # what a message's status hooks would read else, returned by the statements that end or send it
    # (change_facts): its SIM, whether a callback URL is stored for it, whether its recipient is
    # flagged unreachable
    contacts = Contact.__table__.c
    hook_facts = (m.sim, select(c.message_id).where(c.message_id == m.id).exists().label("has_callback"),
                  select(contacts.id).where(contacts.number == m.to_number, contacts.flag == UNREACHABLE)
                  .exists().label("recipient_unreachable"))
    sends, earlier = SimSend.__table__.c, MESSAGES.alias("earlier")

    def routing_facts(candidate: Any) -> tuple[Any, ...]:
        """The SIM (not the modem) the number last heard from, and the modem sending an earlier
        message to the number right now, if one is."""
        last_sim = (select(sends.sim).where(sends.to_number == candidate.to_number)
                    .order_by(sends.id.desc()).limit(1).scalar_subquery())
        sending_on = (select(earlier.c.sim)
                      .where(earlier.c.to_number == candidate.to_number,
                             earlier.c.status == MessageStatus.SENDING, earlier.c.id < candidate.id)
                      .order_by(earlier.c.id.desc()).limit(1).scalar_subquery())
        return last_sim.label("last_sim"), sending_on.label("sending_on")

    due = (m.status == MessageStatus.QUEUED, m.not_before <= bindparam("now"),
           (m.sim_requested.is_(None)) | (m.sim_requested == bindparam("modem")))
    ours = select(m.id).where(m.id == p.message_id, m.status == MessageStatus.SENDING,
                              m.sim == bindparam("modem")).exists()
    take = (update(MESSAGES).where(m.id == bindparam("message_id"), m.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.SENDING, sim=bindparam("modem"), attempts=m.attempts + 1,
                    updated_at=bindparam("now")))
    # only a pending part of a message this modem is sending: parts stop once their message was
    # settled (a failure report, the sweep)
    submitting = (update(PARTS).where(p.id == bindparam("part_id"), p.status == PartStatus.PENDING, ours)
                  .values(status=PartStatus.SUBMITTING, modem=bindparam("modem"), submitted_at=bindparam("now")))
    # the same, unless a more urgent message is due for this modem (one statement: it runs between two sends)
    submitting_unless_more_urgent = submitting.where(~select(m.id).where(*due, m.priority < bindparam("priority"))
                                                     .exists())
    return {
        # PostgreSQL: the take, a part's submitting and sent, a final report, one statement each
        **one_trip.statements(take, hook_facts, submitting=submitting,
                              submitting_unless_more_urgent=submitting_unless_more_urgent),
        "candidates": due_candidates(MESSAGES, (m.id, m.to_number, m.text, m.kind, m.concat_ref, m.attempts, m.sim,
                                                m.expires_at, m.priority, m.source, m.not_before), due,
                                     routing_facts),
        "take": take.returning(*hook_facts),
        "parts_of": select(p.id, p.seq, p.status).where(p.message_id == bindparam("message_id")),
        "partly_sent": select(func.count()).select_from(PARTS)
        .where(p.message_id == bindparam("message_id"), p.status != PartStatus.PENDING),
        "submitting": submitting.returning(p.message_id, p.seq),
        "submitting_unless_more_urgent": submitting_unless_more_urgent.returning(p.message_id, p.seq),
        "sent": update(PARTS).where(p.id == bindparam("part_id"))
        .values(status=PartStatus.SENT, reference=bindparam("ref"), sent_at=bindparam("now"))
        .returning(p.message_id, p.seq, p.modem, p.submitted_at),
        "still_ours": select(p.id).where(p.id == bindparam("part_id"), p.status == PartStatus.PENDING, ours),
        # reports that came before the part they are about was recorded (never before it was submitted)
        "early_for": select(e.id, e.recipient, e.status, e.sent_at, e.discharged_at).where(
            e.modem == bindparam("modem"), e.reference == bindparam("ref"), e.part_id.is_(None),
            e.received_at >= select(p.submitted_at).where(p.id == bindparam("part_id")).scalar_subquery())
        .order_by(e.id),
        "early_store": insert(EARLY),
        "early_matched": update(EARLY).where(e.id == bindparam("early_id")).values(part_id=bindparam("matched")),
        # only from `sending`: a part's failure report may have failed the message already, and a
        # final state stays final
        "message_sent": update(MESSAGES).where(m.id == bindparam("message_id"), m.status == MessageStatus.SENDING)
        .values(status=MessageStatus.SENT, sent_at=bindparam("now"), updated_at=bindparam("now"))
        .returning(*hook_facts),
        # the parts a report could answer, narrowed by its times (report_match decides among them)
        "reported": select(p.id, p.message_id, p.seq, p.submitted_at, p.sent_at, m.to_number)
        .join(MESSAGES, m.id == p.message_id)
        .where(p.modem == bindparam("modem"), p.reference == bindparam("ref"),
               p.submitted_at >= bindparam("earliest"), p.submitted_at <= bindparam("latest"),
               # spelled out: an IN list is rendered again on every execution
               or_(p.status == PartStatus.SENT, p.status == PartStatus.NO_REPORT, p.status == PartStatus.DELIVERED,
                   p.status == PartStatus.FAILED))
        .order_by(p.submitted_at.desc()).limit(20),
        "report": update(PARTS).where(p.id == bindparam("part_id"))
        .values(report_status=bindparam("report_status"), report_at=bindparam("now")),
        "report_final": update(PARTS).where(p.id == bindparam("part_id"))
        .values(report_status=bindparam("report_status"), report_at=bindparam("now"),
                status=bindparam("part_status")),
        # a report moves the message only as far as all its parts allow, in one statement each
        "delivered_if_all": update(MESSAGES).where(
            m.id == bindparam("message_id"), m.status != MessageStatus.DELIVERED,
            ~select(p.id).where(p.message_id == bindparam("message_id"), p.status != PartStatus.DELIVERED).exists())
        .values(status=MessageStatus.DELIVERED, finished_at=bindparam("now"), updated_at=bindparam("now"))
        .returning(*hook_facts),
        "failed_if_any": update(MESSAGES).where(
            m.id == bindparam("message_id"),
            # queued too: given back after a part went, it cannot be delivered whole any more
            or_(m.status == MessageStatus.SENT, m.status == MessageStatus.SENDING, m.status == MessageStatus.QUEUED),
            select(p.id).where(p.message_id == bindparam("message_id"), p.status == PartStatus.FAILED).exists())
        .values(status=MessageStatus.FAILED, finished_at=bindparam("now"), updated_at=bindparam("now"))
        .returning(*hook_facts),
        "events": insert(EVENTS),
        "new_message": insert(MESSAGES).returning(m.id),
        "new_messages": insert(MESSAGES),
        "last_message_id": select(func.max(m.id)),
        "new_parts": insert(PARTS),
    }


CLAIM_BATCH = 20
SQL = {name: Prepared(statement) for name, statement in _statements().items()}
EVENT_COLUMNS = ("message_id", "part_seq", "status", "at", "detail")
MULTI_ROW = 4  # up to this many events go as one multi-row INSERT; more (a bulk enqueue) as executemany


def _event_rows(n: int) -> Any:
    return insert(EVENTS).values([{c: bindparam(f"{c}_{i}", type_=EVENTS.c[c].type) for c in EVENT_COLUMNS}
                                  for i in range(n)])


EVENT_ROWS = {n: Prepared(_event_rows(n)) for n in range(2, MULTI_ROW + 1)}


def record_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Store message_events rows (each made by `event`) in one statement: a message's `sent` or
    `delivered` comes with its part's, and an executemany is a statement per row on PostgreSQL."""
    if 1 < len(events) <= MULTI_ROW:
        EVENT_ROWS[len(events)](conn, {f"{c}_{i}": e[c] for i, e in enumerate(events) for c in EVENT_COLUMNS})
    elif events:
        SQL["events"](conn, list(events))


# a batch's messages in order with their ids (PostgreSQL; see _new_ids), its `queued` events in one
# INSERT ... SELECT
_NEW_MESSAGES_IN_ORDER = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
_QUEUED_EVENTS = insert(EVENTS).from_select(
    ["message_id", "status", "at"],
    select(MESSAGES.c.id, literal(MessageStatus.QUEUED, String), bindparam("now", type_=EVENTS.c.at.type))
    .where(MESSAGES.c.id.in_(bindparam("ids", expanding=True))))


def insert_messages(conn: Connection, messages: Sequence[NewMessage], now: datetime) -> tuple[None, Changes]:
    """Store new messages with their pending parts and `queued` events; sets each message's id.

    One message (an API call, a reply) is prepared statements, as the send path's: its latency is
    the statements' own. A batch is a few statements whatever its size (see _new_ids)."""
    if not messages:
        return None, []
    rows = [m.row() for m in messages]
    if len(rows) == 1:
        ids = [SQL["new_message"](conn, rows[0]).scalar_one()]
        SQL["events"](conn, [event(ids[0], MessageStatus.QUEUED, now)])
    else:
        ids = _new_ids(conn, rows)
        conn.execute(_QUEUED_EVENTS, {"ids": ids, "now": now})
    for message, message_id in zip(messages, ids, strict=True):
        message.id = message_id
    SQL["new_parts"](conn, [{"message_id": m.id, "seq": seq, "total": m.segments, "status": PartStatus.PENDING}
                            for m in messages for seq in range(1, m.segments + 1)])
    notify.announce(conn)  # other gateways on the database wake at its commit
    return None, [(m.id, MessageStatus.QUEUED) for m in messages]


def _new_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """The new messages' ids in the order of `rows`.

    SQLite has one writer at a time (every transaction begins IMMEDIATE) and gives each row the
    highest rowid plus one, so the rows are one prepared executemany and their ids follow the
    highest before it (checked against the highest after it). PostgreSQL gets a multi-row
    INSERT ... RETURNING kept in the rows' order by SQLAlchemy (on SQLite it would go row by row)."""
    if conn.dialect.name != "sqlite":
        return list(conn.execute(_NEW_MESSAGES_IN_ORDER, rows).scalars())
    before = SQL["last_message_id"](conn).scalar_one() or 0
    SQL["new_messages"](conn, rows)
    after = SQL["last_message_id"](conn).scalar_one()
    if after - before != len(rows):
        raise RuntimeError(f"{len(rows)} messages stored but the highest id moved by {after - before}")
    return list(range(before + 1, after + 1))


def claim(conn: Connection, modem: str, may_take: Callable[[Candidate], bool], now: datetime) -> Claimed | None:
    """The most urgent due message this modem may take, marked `sending`; None if there is none.

    The head of the queue is nearly always taken, so it is read first; only when it is not (sticky
    to another SIM, expired) are the next ones read."""
    head = SQL["candidates"](conn, {"now": now, "modem": modem, "limit": 1}).all()
    claimed = _take_first(conn, head, modem, may_take, now)
    if claimed is None and head:
        rest = SQL["candidates"](conn, {"now": now, "modem": modem, "limit": CLAIM_BATCH}).all()[1:]
        claimed = _take_first(conn, rest, modem, may_take, now)
    return claimed


def _take_first(conn: Connection, candidates: Sequence[Any], modem: str, may_take: Callable[[Candidate], bool],
                now: datetime) -> Claimed | None:
    for message in candidates:
        if message.expires_at is not None and message.expires_at <= now:
            continue  # the expiry sweep records it
        if message.sim is not None and message.sim != modem and partly_sent(conn, message.id):
            continue  # the rest of a multipart must come from the same number
        if not may_take(message):
            continue
        parts = _take(conn, message.id, modem, now)
        if not parts:
            continue  # another gateway sharing the database was quicker
        return Claimed(message.id, message.to_number, message.text, message.kind, message.concat_ref,
                       message.attempts + 1, tuple(sorted(p.seq for p in parts if p.status == PartStatus.PENDING)),
                       {p.seq: p.id for p in parts}, message.expires_at, message.priority, message.source or "")
    return None


def _take(conn: Connection, message_id: int, modem: str, now: datetime) -> Sequence[Any]:
    """Mark the message `sending` on `modem`, with its event: its parts (id, seq, status), none if
    it was no longer queued."""
    values = {"message_id": message_id, "modem": modem, "now": now}
    if conn.dialect.name == "postgresql":
        parts = SQL["take_with_parts"](conn, {**values, "event_detail": f"on {modem}"}).all()
        taken = parts[0] if parts else None
    else:
        taken = SQL["take"](conn, values).first()
        if taken is not None:
            record_events(conn, [event(message_id, MessageStatus.SENDING, now, f"on {modem}")])
            parts = SQL["parts_of"](conn, {"message_id": message_id}).all()
    if taken is None:
        return []
    change_facts.learn(message_id, taken)
    return parts


def event(message_id: int, status: str, at: datetime, detail: str | None = None,
           part_seq: int | None = None) -> dict[str, Any]:
    """A message_events row (every key present, so a list of them is one executemany)."""
    return {"message_id": message_id, "part_seq": part_seq, "status": status, "at": at, "detail": detail}


def move(conn: Connection, message_id: int, status: str, now: datetime, allowed: Sequence[str],
          values: Mapping[str, Any]) -> bool:
    """The compare-and-set every per-message change starts with: the message moves only from one
    of the `allowed` states (a final state stays final: a part's failure report can fail a message
    while its worker is still busy, and what the worker does next must not undo that). Being a
    write, it also makes what the transaction reads after it current until the commit."""
    moved = conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id, MESSAGES.c.status.in_(allowed))
                         .values(status=status, updated_at=now, **values)).rowcount
    if not moved:
        log.info("message %d is no longer %s; left so", message_id, " or ".join(allowed))
    return bool(moved)


def requeue(conn: Connection, message_id: int, now: datetime, detail: str,
             values: Mapping[str, Any]) -> tuple[None, Changes]:
    """A message its worker is `sending` back to `queued` (nothing else is ever put back)."""
    if not move(conn, message_id, MessageStatus.QUEUED, now, (MessageStatus.SENDING,), values):
        return None, []
    record_events(conn, [event(message_id, MessageStatus.QUEUED, now, detail)])
    return None, [(message_id, MessageStatus.QUEUED)]


def one_attempt_less() -> Any:
    """Giving a claim back does not use up an attempt."""
    return case((MESSAGES.c.attempts > 0, MESSAGES.c.attempts - 1), else_=0)


def part_outcome(conn: Connection, part_id: int, status: str, error: str | None, now: datetime) -> None:
    """The fate of the part in flight (`submitting`): refused, failed or in doubt."""
    row = conn.execute(update(PARTS).where(PARTS.c.id == part_id, PARTS.c.status == PartStatus.SUBMITTING)
                       .values(status=status, error=error).returning(PARTS.c.message_id, PARTS.c.seq)).first()
    if row is not None:
        record_events(conn, [event(row.message_id, status, now, error, row.seq)])


def settle_all(conn: Connection, message_ids: Sequence[int], now: datetime, resend_unknown: bool, detail: str,
                stale_before: datetime | None) -> tuple[dict[str, int], Changes]:
    counts = {"unknown": 0, "requeued": 0}
    changes: Changes = []
    for message_id in message_ids:
        status = _settle(conn, message_id, now, resend_unknown, detail, stale_before)
        if status is None:
            continue
        changes.append((message_id, status))
        if status == MessageStatus.UNKNOWN:
            counts["unknown"] += 1
        elif status == MessageStatus.QUEUED:
            counts["requeued"] += 1
    return counts, changes


def _settle(conn: Connection, message_id: int, now: datetime, resend_unknown: bool, detail: str,
            stale_before: datetime | None) -> str | None:
    """Settle one message still `sending` (and, with `stale_before`, untouched since then) by its
    parts; its new status, or None if it was not to be settled."""
    m, p = MESSAGES.c, PARTS.c
    guard = [m.id == message_id, m.status == MessageStatus.SENDING]
    if stale_before is not None:
        guard += [m.updated_at < stale_before,
                  ~select(p.id).where(p.message_id == message_id, p.submitted_at >= stale_before).exists()]
    if not conn.execute(update(MESSAGES).where(*guard).values(updated_at=now)).rowcount:
        return None  # settled or busy meanwhile; the write also makes what is read below current
    events = []
    statuses = []
    for part in conn.execute(select(p.id, p.seq, p.status).where(p.message_id == message_id)).all():
        status = part.status
        if status == PartStatus.SUBMITTING:
            status = PartStatus.PENDING if resend_unknown else PartStatus.UNKNOWN
            conn.execute(update(PARTS).where(p.id == part.id).values(status=status, error=IN_DOUBT))
            events.append(event(message_id, status, now, IN_DOUBT, part.seq))
        statuses.append(status)
    new = _by_parts(statuses)
    values: dict[str, Any] = {"status": new}
    if new in MessageStatus.FINAL:
        values["finished_at"] = now
    if new in (MessageStatus.SENT, MessageStatus.DELIVERED):
        values["sent_at"] = func.coalesce(m.sent_at, now)
    conn.execute(update(MESSAGES).where(m.id == message_id).values(**values))
    events.append(event(message_id, new, now, detail))
    record_events(conn, events)
    return new


def _by_parts(statuses: Sequence[str]) -> str:
    """What a message is when its sending stopped, by its parts' states."""
    if PartStatus.FAILED in statuses:
        return MessageStatus.FAILED
    if PartStatus.UNKNOWN in statuses:
        return MessageStatus.UNKNOWN
    if all(s == PartStatus.DELIVERED for s in statuses):
        return MessageStatus.DELIVERED
    if all(s in (PartStatus.SENT, PartStatus.NO_REPORT, PartStatus.DELIVERED) for s in statuses):
        return MessageStatus.SENT
    return MessageStatus.QUEUED


def partly_sent(db: Session | Connection, message_id: int) -> bool:
    conn = db.connection() if isinstance(db, Session) else db
    return bool(SQL["partly_sent"](conn, {"message_id": message_id}).scalar())
