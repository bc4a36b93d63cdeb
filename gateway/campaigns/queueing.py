"""A campaign's next pending recipients queued, a batch at a time: their messages stored by
`Queue.enqueue_many` in the same transaction that marks them `queued` with their message (a
compare-and-set on `pending`: a batch some other runner queued meanwhile rolls back whole), so a
SIGKILL leaves each recipient with its one message or still pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, select, update

from gateway.audience.models import Contact
from gateway.campaigns.firsts import texted_before
from gateway.campaigns.models import Recipient, RecipientState
from gateway.campaigns.personal import Body
from gateway.campaigns.timing import Window, zone
from gateway.core.clock import Clock
from gateway.outbound.new_message import NewMessage, Outgoing, RejectedMessage
from gateway.outbound.queue import Queue
from gateway.store.db import Prepared

SOURCE = "campaign"
RECIPIENTS = Recipient.__table__
# each recipient of a batch with its message: prepared, as it runs once per message queued
_MESSAGE_OF = Prepared(update(RECIPIENTS).where(RECIPIENTS.c.id == bindparam("rid")).values(message_id=bindparam("mid")))


class Batches:
    """Queues a campaign's pending recipients on `queue`."""

    def __init__(self, engine: Engine, queue: Queue, clock: Clock, default_tz: ZoneInfo) -> None:
        self.engine = engine
        self.queue = queue
        self.clock = clock
        self.default_tz = default_tz

    def queue_next(self, campaign_id: int, bodies: dict[int, Body], window: Window | None, now: datetime,
                     after: int, room: int, *, first_only: bool = False) -> tuple[int, int, bool]:
        """Queue up to `room` pending recipients above recipient id `after` (those whose window is
        open now); (messages queued, last recipient id looked at, whether any pending are left).
        `first_only`: the footer goes on the texts of those never texted marketing before."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Recipient.id, Recipient.variant_id, Contact.number, Contact.name,
                                       Contact.language, Contact.timezone, Contact.fields)
                                .join(Contact, Contact.id == Recipient.contact_id)
                                .where(Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.PENDING,
                                       Recipient.id > after)
                                .order_by(Recipient.id).limit(room)).all()
            texted = texted_before(conn, [row.number for row in rows]) if first_only else set()
        if not rows:
            return 0, after, False
        items: list[Outgoing] = []
        ids: list[int] = []
        skipped: list[dict[str, Any]] = []
        for rid, variant_id, number, name, language, tz, fields in rows:
            if window is not None and not window.contains(now, zone(tz, self.default_tz)):
                continue
            personal = bodies[variant_id].text_for(name, fields, language,
                                                   footer=number not in texted if first_only else None)
            if personal.text is None:
                skipped.append({"rid": rid, "why": personal.problem})
                continue
            items.append(Outgoing(number, personal.text, kind="marketing", priority="bulk", campaign_id=campaign_id))
            ids.append(rid)
        queued = self.store(campaign_id, items, ids, skipped)
        return queued, rows[-1].id, len(rows) == room

    def store(self, campaign_id: int, items: list[Outgoing], ids: list[int],
               skipped: list[dict[str, Any]]) -> int:
        now = self.clock.now()
        if skipped:
            with self.engine.begin() as conn:
                conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.id == bindparam("rid"),
                                                      RECIPIENTS.c.state == RecipientState.PENDING)
                             .values(state=RecipientState.SKIPPED, reason=bindparam("why"), updated_at=now), skipped)
        while items:
            try:
                self.queue.enqueue_many(items, source=SOURCE, along=lambda conn, messages: _mark_queued(
                    conn, campaign_id, ids, messages, now))
                return len(items)
            except RejectedMessage as exc:  # a number the queue refuses: skip that one, store the rest
                index = exc.index or 0
                self.store(campaign_id, [], [], [{"rid": ids[index], "why": str(exc)}])
                del items[index], ids[index]
        return 0

class Conflict(RuntimeError):
    """Recipients were queued by someone else meanwhile: the batch is rolled back, nothing is sent twice."""


def _mark_queued(conn: Connection, campaign_id: int, ids: list[int], messages: list[NewMessage], now: datetime) -> None:
    """In the transaction that stores the messages (each named with its campaign): each recipient
    `queued` with its message, only if still pending."""
    taken = conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.id.in_(ids), RECIPIENTS.c.state == RecipientState.PENDING)
                         .values(state=RecipientState.QUEUED, updated_at=now)).rowcount  # one statement: a sure count
    if taken != len(ids):
        raise Conflict(f"campaign {campaign_id}: {len(ids) - taken} recipients were queued meanwhile")
    _MESSAGE_OF(conn, [{"rid": rid, "mid": m.id} for rid, m in zip(ids, messages, strict=True)])
