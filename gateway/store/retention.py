"""Retention: what the database forgets, and when, in small batches.

`prune_batch` is one bounded step inside the caller's transaction (at most `batch` rows of each
kind), so the writer lock is held only briefly and the send path never waits long behind it;
`prune` repeats it, one transaction per step, until nothing is left to do. Both take `now` from
the caller (the daemon's Clock), so tests move time with the FakeClock.

A SIM's send history (`sim_sends`) is kept for its longest limit window, whatever the policy.
Never touched: a message that is not settled (queued, sending, sent and still awaiting its report;
a `sent` message whose report wait is over is settled, its `finished_at` set then), a
webhook delivery still pending (nor the message it is about), and the consent ledger
(`consent_events`) with the inbound messages it cites (and those an opt-out request was read in): the ledger is the evidence of every
opt-in and opt-out, kept for as long as the database lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, exists, or_, select, update
from sqlalchemy.engine import Connection

from gateway.consent.models import ConsentEvent, OptOutRequest
from gateway.inbound.models import InboundMessage, InboundMessagePart, InboundPart
from gateway.inbound.storing import DUPLICATE_WINDOW
from gateway.outbound.limits import MONTH
from gateway.outbound.models import EarlyReport, Message, MessageEvent, MessageStatus, Part
from gateway.sims.models import SimSend
from gateway.webhooks.models import DeliveryStatus, MessageCallback, WebhookAttempt, WebhookDelivery

REDACTED = "[redacted]"  # what a transactional text becomes once it is no longer needed
_FINAL = sorted(MessageStatus.FINAL)
# final, or sent with no report awaited any more (every part delivered or `no_report`): nothing will change it
_SETTLED = or_(Message.status.in_(_FINAL),
               and_(Message.status == MessageStatus.SENT, Message.finished_at.is_not(None)))
SEND_HISTORY = timedelta(seconds=MONTH) + timedelta(days=1)  # the longest limit window, and a day's margin


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept; 0 (or less) keeps it forever."""

    messages_days: float = 400.0
    events_days: float = 30.0
    transactional_text_days: float = 1.0

    @classmethod
    def of(cls, section: object) -> RetentionPolicy:
        """From the config's [retention] section."""
        return cls(messages_days=section.messages_days, events_days=section.events_days,  # type: ignore[attr-defined]
                   transactional_text_days=section.transactional_text_days)  # type: ignore[attr-defined]


def prune_batch(conn: Connection, now: datetime, policy: RetentionPolicy, batch: int = 500) -> int:
    """One step of every rule, each on at most `batch` rows; the rows deleted or blanked."""
    done = _redact_transactional(conn, now, policy, batch)
    done += _drop_raw_pdus(conn, now, batch)
    if policy.events_days > 0:
        cutoff = now - timedelta(days=policy.events_days)
        done += _prune_events(conn, cutoff, batch)
        done += _prune_deliveries(conn, cutoff, batch)
    done += _prune_send_history(conn, now - SEND_HISTORY, batch)
    if policy.messages_days > 0:
        cutoff = now - timedelta(days=policy.messages_days)
        done += _prune_messages(conn, cutoff, batch)
        done += _prune_inbound(conn, cutoff, batch)
    return done


def prune(engine: Engine, now: datetime, policy: RetentionPolicy, batch: int = 500) -> int:
    """`prune_batch` in its own short transaction, again and again until it finds nothing."""
    total = 0
    while True:
        with engine.begin() as conn:
            done = prune_batch(conn, now, policy, batch)
        total += done
        if done == 0:
            return total


def _ids(conn: Connection, query) -> list[int]:  # type: ignore[no-untyped-def]
    return list(conn.scalars(query))


def _redact_transactional(conn: Connection, now: datetime, policy: RetentionPolicy, batch: int) -> int:
    if policy.transactional_text_days <= 0:
        return 0
    cutoff = now - timedelta(days=policy.transactional_text_days)
    ids = _ids(conn, select(Message.id).where(
        Message.kind == "transactional", _SETTLED, Message.finished_at < cutoff,
        Message.text != REDACTED).limit(batch))
    if not ids:
        return 0
    return conn.execute(update(Message).where(Message.id.in_(ids), _SETTLED).values(text=REDACTED)).rowcount


def _drop_raw_pdus(conn: Connection, now: datetime, batch: int) -> int:
    """A decoded part made into a message needs its PDU only to recognise a re-read of it, which
    the duplicate window bounds; an undecodable one keeps it (it is all there is)."""
    made = exists().where(InboundMessagePart.inbound_part_id == InboundPart.id)
    ids = _ids(conn, select(InboundPart.id).where(
        InboundPart.error.is_(None), InboundPart.raw_pdu != "", InboundPart.received_at < now - DUPLICATE_WINDOW,
        made).limit(batch))
    if not ids:
        return 0
    return conn.execute(update(InboundPart).where(InboundPart.id.in_(ids)).values(raw_pdu="")).rowcount


def _prune_events(conn: Connection, cutoff: datetime, batch: int) -> int:
    finished = exists().where(Message.id == MessageEvent.message_id, _SETTLED)
    ids = _ids(conn, select(MessageEvent.id).where(MessageEvent.at < cutoff, finished).limit(batch))
    done = conn.execute(delete(MessageEvent).where(MessageEvent.id.in_(ids))).rowcount if ids else 0
    ids = _ids(conn, select(EarlyReport.id).where(EarlyReport.received_at < cutoff).limit(batch))
    done += conn.execute(delete(EarlyReport).where(EarlyReport.id.in_(ids))).rowcount if ids else 0
    return done


def _prune_deliveries(conn: Connection, cutoff: datetime, batch: int) -> int:
    """Attempts older than the cutoff, and settled deliveries (with their attempts) as well."""
    open_delivery = exists().where(WebhookDelivery.id == WebhookAttempt.delivery_id,
                                   WebhookDelivery.status == DeliveryStatus.PENDING)
    ids = _ids(conn, select(WebhookAttempt.id).where(WebhookAttempt.at < cutoff, ~open_delivery).limit(batch))
    done = conn.execute(delete(WebhookAttempt).where(WebhookAttempt.id.in_(ids))).rowcount if ids else 0
    ids = _ids(conn, select(WebhookDelivery.id).where(
        WebhookDelivery.created_at < cutoff, WebhookDelivery.status != DeliveryStatus.PENDING).limit(batch))
    if ids:
        done += conn.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))).rowcount
        done += conn.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))).rowcount
    return done


def _prune_send_history(conn: Connection, cutoff: datetime, batch: int) -> int:
    """A SIM's sends older than its longest limit window count for nothing any more."""
    ids = _ids(conn, select(SimSend.id).where(SimSend.at < cutoff).limit(batch))
    return conn.execute(delete(SimSend).where(SimSend.id.in_(ids))).rowcount if ids else 0


def _prune_messages(conn: Connection, cutoff: datetime, batch: int) -> int:
    undelivered = exists().where(WebhookDelivery.message_id == Message.id,
                                 WebhookDelivery.status == DeliveryStatus.PENDING)
    ids = _ids(conn, select(Message.id).where(
        _SETTLED, Message.created_at < cutoff, ~undelivered).limit(batch))
    if not ids:
        return 0
    parts = select(Part.id).where(Part.message_id.in_(ids))
    done = conn.execute(delete(EarlyReport).where(EarlyReport.part_id.in_(parts))).rowcount
    done += conn.execute(delete(MessageEvent).where(MessageEvent.message_id.in_(ids))).rowcount
    done += conn.execute(delete(MessageCallback).where(MessageCallback.message_id.in_(ids))).rowcount
    # a send still inside a limit window outlives its message's record (messages_days may be short)
    conn.execute(update(SimSend).where(SimSend.part_id.in_(parts)).values(part_id=None))
    done += conn.execute(delete(Part).where(Part.message_id.in_(ids))).rowcount
    # the state is checked again in the statement that deletes: a settled message does not change, but
    # the check keeps this step right whatever runs beside it
    return done + conn.execute(delete(Message).where(Message.id.in_(ids), _SETTLED)).rowcount


def _prune_inbound(conn: Connection, cutoff: datetime, batch: int) -> int:
    """Old inbound messages with their parts, except those the consent ledger cites."""
    cited = or_(exists().where(ConsentEvent.inbound_message_id == InboundMessage.id),
                exists().where(OptOutRequest.inbound_message_id == InboundMessage.id))
    ids = _ids(conn, select(InboundMessage.id).where(InboundMessage.received_at < cutoff, ~cited).limit(batch))
    done = 0
    if ids:
        part_ids = _ids(conn, select(InboundMessagePart.inbound_part_id)
                        .where(InboundMessagePart.inbound_message_id.in_(ids)))
        done += conn.execute(delete(InboundMessagePart).where(InboundMessagePart.inbound_message_id.in_(ids))).rowcount
        if part_ids:
            done += conn.execute(delete(InboundPart).where(InboundPart.id.in_(part_ids))).rowcount
        done += conn.execute(delete(InboundMessage).where(InboundMessage.id.in_(ids))).rowcount
    # parts never made into a message (undecodable, or an incomplete message's stray) that old
    orphan = and_(InboundPart.received_at < cutoff,
                  ~exists().where(InboundMessagePart.inbound_part_id == InboundPart.id))
    ids = _ids(conn, select(InboundPart.id).where(orphan).limit(batch))
    if ids:
        done += conn.execute(delete(InboundPart).where(InboundPart.id.in_(ids))).rowcount
    return done
