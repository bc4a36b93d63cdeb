"""How a campaign is doing, read live from its recipient rows and their messages (the figures of
`results`, summed), and its recipients as the API lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gateway.audience.models import Contact
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, Variant
from gateway.campaigns.results import ATTRIBUTION_DAYS, Figures, per_variant
from gateway.outbound.models import Message

COUNTS = ("recipients", "held", "pending", "queued", "sent", "delivered", "failed", "suppressed", "cancelled",
          "replies", "opt_outs")


def counts(conn: Connection, campaign_id: int, days: float = ATTRIBUTION_DAYS) -> dict[str, int]:
    """The campaign's counts, live (see `summed`)."""
    return summed(per_variant(conn, campaign_id, days))


def summed(figures_of: dict[int, Figures]) -> dict[str, int]:
    """recipients, held (an A/B test's rest before the winner), pending, queued (waiting in the
    queue or being sent), sent (delivered included), delivered, failed, suppressed (skipped before
    queueing and suppressed at send time), cancelled; replies and opt-outs attributed to it."""
    total = Figures()
    for figures in figures_of.values():
        total.add(figures)
    return {name: total.counts[name] for name in COUNTS}


def newest(session: Session, *, before: int | None = None, limit: int = 50) -> tuple[list[Campaign], int | None]:
    """A page of campaigns, newest first (by id), and the id to page on from (None: the last page)."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Campaign.id < before)
    found = list(session.scalars(query))
    page = found[:limit]
    return page, page[-1].id if len(found) > limit else None


def recipient_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "contact_id": row.contact_id, "to": row.number, "variant": row.seq, "state": row.state,
            "in_sample": row.in_sample, "reason": row.reason, "message_id": row.message_id,
            "message_status": row.status}


def recipients_query(campaign_id: int) -> Any:
    return (select(Recipient.id, Recipient.contact_id, Contact.number, Variant.seq, Recipient.state, Recipient.in_sample,
                   Recipient.reason, Recipient.message_id, Message.status)
            .join(Contact, Contact.id == Recipient.contact_id).join(Variant, Variant.id == Recipient.variant_id)
            .outerjoin(Message, Message.id == Recipient.message_id).where(Recipient.campaign_id == campaign_id))


IN_PROGRESS = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


@dataclass(frozen=True)
class Progress:
    """A campaign under way: how many of its recipients are dealt with (texted or skipped) of how many."""

    id: int
    name: str
    status: str
    done: int
    total: int


def in_progress(conn: Connection, limit: int = 5) -> list[Progress]:
    """Running and paused campaigns, the newest started first, each with its live counts."""
    rows = conn.execute(select(Campaign.id, Campaign.name, Campaign.status).where(Campaign.status.in_(IN_PROGRESS))
                        .order_by(Campaign.started_at.desc(), Campaign.id.desc()).limit(limit)).all()
    out = []
    for row in rows:
        figures = counts(conn, row.id)
        waiting = figures["pending"] + figures["held"] + figures["queued"]
        out.append(Progress(row.id, row.name, row.status, max(0, figures["recipients"] - waiting), figures["recipients"]))
    return out
