"""A campaign's results, per variant and in total: recipients, sent, delivered, failed, suppressed
by reason, replies and opt-outs attributed to it, and what it cost in parts per SIM.

A reply is an inbound message from a recipient within `days` after their campaign message went; an
opt-out the same for the consent ledger (`[campaigns] attribution_days`). Each figure is one
grouped query over the campaign's recipients (the index on campaign_id) joined by key to their
message and parts; replies and opt-outs are grouped in the database, the inbound messages and
opt-outs joined to the recipients by contact (an index on each side), so only the recipients who
replied or opted out come back: a 100k-recipient campaign is read in well under a second. The A/B decision reads the same figures
for the sample only.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from gateway.campaigns.ab import label
from gateway.campaigns.models import Campaign, Recipient, RecipientState
from gateway.consent.models import ConsentEvent, ConsentKind
from gateway.inbound.models import InboundMessage
from gateway.outbound.models import Message, MessageStatus, Part
from gateway.store.base import UtcDateTime

SENT = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED})
FAILED = frozenset({MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN})
WAITING = frozenset({MessageStatus.QUEUED, MessageStatus.SENDING})
ATTRIBUTION_DAYS = 7.0  # `[campaigns] attribution_days` by default
FIGURES = ("recipients", "held", "pending", "queued", "sent", "delivered", "failed", "suppressed", "cancelled",
           "replies", "opt_outs", "parts")


@dataclass
class Figures:
    """One variant's results (or the campaign's, summed)."""

    counts: Counter[str] = field(default_factory=Counter)
    suppressed_by_reason: Counter[str] = field(default_factory=Counter)
    parts_per_sim: Counter[str] = field(default_factory=Counter)

    def add(self, other: Figures) -> None:
        self.counts.update(other.counts)
        self.suppressed_by_reason.update(other.suppressed_by_reason)
        self.parts_per_sim.update(other.parts_per_sim)

    def as_dict(self) -> dict[str, Any]:
        return {**{name: self.counts[name] for name in FIGURES},
                "suppressed_by_reason": dict(self.suppressed_by_reason), "parts_per_sim": dict(self.parts_per_sim)}


def per_variant(conn: Connection, campaign_id: int, days: float = ATTRIBUTION_DAYS, *, sample_only: bool = False) -> dict[int, Figures]:
    """Variant id -> its figures (`sample_only`: an A/B test's sample alone)."""
    where = [Recipient.campaign_id == campaign_id]
    if sample_only:
        where.append(Recipient.in_sample.is_(True))
    out: dict[int, Figures] = defaultdict(Figures)
    _outcomes(conn, where, out)
    _attributed(conn, campaign_id, where, timedelta(days=days), out)
    rows = conn.execute(select(Recipient.variant_id, Message.sim, func.count(Part.id))
                        .select_from(Recipient).join(Message, Message.id == Recipient.message_id)
                        .join(Part, Part.message_id == Message.id)
                        .where(*where, Part.submitted_at.is_not(None)).group_by(Recipient.variant_id, Message.sim))
    for variant_id, sim, parts in rows:
        out[variant_id].parts_per_sim[sim or "unknown"] += parts
        out[variant_id].counts["parts"] += parts
    return dict(out)


def _outcomes(conn: Connection, where: list[Any], out: dict[int, Figures]) -> None:
    suppressed_why = case((Message.status == MessageStatus.SUPPRESSED, Message.last_error), else_=None)
    rows = conn.execute(select(Recipient.variant_id, Recipient.state, Recipient.reason, Message.status, suppressed_why,
                               func.count())
                        .select_from(Recipient).outerjoin(Message, Message.id == Recipient.message_id)
                        .where(*where).group_by(Recipient.variant_id, Recipient.state, Recipient.reason,
                                                Message.status, suppressed_why))
    for variant_id, state, reason, status, why, n in rows:
        figures = out[variant_id]
        figures.counts["recipients"] += n
        if state == RecipientState.SKIPPED or (state == RecipientState.QUEUED and status == MessageStatus.SUPPRESSED):
            figures.counts["suppressed"] += n  # before queueing (the recipient's reason) or at send time (the message's)
            figures.suppressed_by_reason[(reason if state == RecipientState.SKIPPED else why) or "unknown"] += n
        elif state in (RecipientState.PENDING, RecipientState.HELD):
            figures.counts[state] += n
        elif state == RecipientState.CANCELLED or status == MessageStatus.CANCELLED:
            figures.counts["cancelled"] += n
        elif status in WAITING:
            figures.counts["queued"] += n
        elif status in SENT:
            figures.counts["sent"] += n
            figures.counts["delivered"] += n if status == MessageStatus.DELIVERED else 0
        elif status in FAILED:
            figures.counts["failed"] += n


def _attributed(conn: Connection, campaign_id: int, where: list[Any], within: timedelta,
                out: dict[int, Figures]) -> None:
    """Replies and opt-outs: the inbound messages and opt-outs since the campaign started, joined
    to their recipients by contact (the unique (campaign, contact) key, and the contact index of
    the other side); per recipient who answered, the first one after their message went, counted
    when it came within `within`. Only those recipients come back from the database."""
    started = conn.scalar(select(Campaign.started_at).where(Campaign.id == campaign_id))
    if started is None:
        return
    for name, table, contact, at, extra in (
            ("replies", InboundMessage, InboundMessage.contact_id, InboundMessage.received_at, ()),
            ("opt_outs", ConsentEvent, ConsentEvent.contact_id, ConsentEvent.at, (ConsentEvent.kind == ConsentKind.OPT_OUT,))):
        rows = conn.execute(select(Recipient.variant_id, Message.sent_at, func.min(at))
                            .select_from(table)
                            .join(Recipient, and_(Recipient.campaign_id == campaign_id, Recipient.contact_id == contact))
                            .join(Message, Message.id == Recipient.message_id)
                            .where(*where, *extra, at >= started, Message.sent_at.is_not(None), at >= Message.sent_at)
                            .group_by(Recipient.id, Recipient.variant_id, Message.sent_at))
        for variant_id, sent_at, first in rows:
            out[variant_id].counts[name] += _aware(first, conn) <= sent_at + within


def _aware(value: Any, conn: Connection) -> datetime:
    """min() of a time column can come back untyped on SQLite (a string): read it as the column would."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UtcDateTime().process_result_value(value, conn.dialect)


def summary(variants: Iterable[tuple[int, str]], figures: dict[int, Figures]) -> dict[str, Any]:
    """The results document: the campaign's totals and one entry per variant (seq, text) in order."""
    total = Figures()
    items = []
    for variant_id, (seq, text) in variants:
        own = figures.get(variant_id, Figures())
        total.add(own)
        items.append({"variant": seq, "text": text, **own.as_dict()})
    return {"totals": total.as_dict(), "variants": items}


def document(conn: Connection, campaign_id: int, days: float = ATTRIBUTION_DAYS) -> dict[str, Any]:
    """The results document of one campaign (as the API and the console show it): `summary` of its
    variants in order, with the attribution window it was counted with."""
    from gateway.campaigns.models import Variant

    variants = conn.execute(select(Variant.id, Variant.seq, Variant.body).where(Variant.campaign_id == campaign_id)
                            .order_by(Variant.seq)).all()
    figures = per_variant(conn, campaign_id, days)
    return {"id": campaign_id, "attribution_days": days,
            **summary([(vid, (seq, body)) for vid, seq, body in variants], figures)}


def to_csv(document: dict[str, Any]) -> str:
    """One row per variant and one for the whole campaign; the reasons and SIMs as columns. A cell
    a spreadsheet would take for a formula (= + - @ first) is prefixed with a quote."""
    rows = [{"variant": "all", "text": "", **document["totals"]}] + document["variants"]
    reasons = sorted({reason for row in rows for reason in row["suppressed_by_reason"]})
    sims = sorted({sim for row in rows for sim in row["parts_per_sim"]})
    header = ["variant", "text", *FIGURES, *(f"suppressed: {r}" for r in reasons), *(f"parts: {s}" for s in sims)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in header])
    for row in rows:
        writer.writerow([_cell(v) for v in (
            row["variant"] if isinstance(row["variant"], str) else label(row["variant"]), row["text"], *(row[name] for name in FIGURES),
            *(row["suppressed_by_reason"].get(r, 0) for r in reasons), *(row["parts_per_sim"].get(s, 0) for s in sims))])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
