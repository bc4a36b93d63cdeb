"""How a campaign is doing, read live from its recipient rows and their messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select

from gateway.audience.models import Contact
from gateway.campaigns.models import Recipient, RecipientState, Variant
from gateway.consent.models import ConsentEvent, ConsentKind
from gateway.inbound.models import InboundMessage
from gateway.outbound.models import Message, MessageStatus

SENT = (MessageStatus.SENT, MessageStatus.DELIVERED)
FAILED = (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN)
WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING)


def counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    """recipients, pending, queued (waiting in the queue or being sent), sent (delivered
    included), delivered, failed, suppressed (skipped before queueing and suppressed at send time),
    cancelled; replies and opt-outs from its recipients after their message went out."""
    out = dict.fromkeys(("recipients", "pending", "queued", "sent", "delivered", "failed", "suppressed",
                         "cancelled", "replies", "opt_outs"), 0)
    rows = conn.execute(select(Recipient.state, Message.status, func.count())
                        .select_from(Recipient).outerjoin(Message, Message.id == Recipient.message_id)
                        .where(Recipient.campaign_id == campaign_id).group_by(Recipient.state, Message.status))
    for state, status, n in rows:
        out["recipients"] += n
        if state == RecipientState.PENDING:
            out["pending"] += n
        elif state == RecipientState.SKIPPED:
            out["suppressed"] += n
        elif state == RecipientState.CANCELLED or status == MessageStatus.CANCELLED:
            out["cancelled"] += n
        elif status in WAITING:
            out["queued"] += n
        elif status in SENT:
            out["sent"] += n
            out["delivered"] += n if status == MessageStatus.DELIVERED else 0
        elif status in FAILED:
            out["failed"] += n
        elif status == MessageStatus.SUPPRESSED:
            out["suppressed"] += n
    went = (select(Recipient.contact_id, Message.sent_at).join(Message, Message.id == Recipient.message_id)
            .where(Recipient.campaign_id == campaign_id, Message.sent_at.is_not(None)).subquery())
    out["replies"] = int(conn.scalar(select(func.count(func.distinct(InboundMessage.contact_id))).select_from(went)
                                     .join(InboundMessage, and_(InboundMessage.contact_id == went.c.contact_id,
                                                                InboundMessage.received_at >= went.c.sent_at))) or 0)
    out["opt_outs"] = int(conn.scalar(select(func.count(func.distinct(ConsentEvent.contact_id))).select_from(went)
                                      .join(ConsentEvent, and_(ConsentEvent.contact_id == went.c.contact_id,
                                                               ConsentEvent.kind == ConsentKind.OPT_OUT,
                                                               ConsentEvent.at >= went.c.sent_at))) or 0)
    return out


def variant_counts(conn: Connection, campaign_id: int) -> dict[int, dict[str, int]]:
    """Recipients and messages sent per variant (the A/B results build on this)."""
    out: dict[int, dict[str, int]] = {}
    rows = conn.execute(select(Recipient.variant_id, func.count(), func.count(Message.sent_at))
                        .select_from(Recipient).outerjoin(Message, Message.id == Recipient.message_id)
                        .where(Recipient.campaign_id == campaign_id).group_by(Recipient.variant_id))
    for variant_id, recipients, sent in rows:
        out[variant_id] = {"recipients": recipients, "sent": sent}
    return out


def recipient_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "contact_id": row.contact_id, "to": row.number, "variant": row.seq, "state": row.state,
            "reason": row.reason, "message_id": row.message_id, "message_status": row.status}


def recipients_query(campaign_id: int) -> Any:
    return (select(Recipient.id, Recipient.contact_id, Contact.number, Variant.seq, Recipient.state, Recipient.reason,
                   Recipient.message_id, Message.status)
            .join(Contact, Contact.id == Recipient.contact_id).join(Variant, Variant.id == Recipient.variant_id)
            .outerjoin(Message, Message.id == Recipient.message_id).where(Recipient.campaign_id == campaign_id))
