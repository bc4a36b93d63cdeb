"""An A/B test's winner, decided once: by its measure over the sample's results (`ab.pick`) when
its decision job runs, or picked by the owner before that. One transaction records the winner by a
compare-and-set on `winner_id` (whoever comes second is refused) and hands every held recipient the
winner's variant, pending again, so the campaign's next round texts the rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from gateway.campaigns import ab
from gateway.campaigns.errors import CampaignError
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, RecipientState, Variant
from gateway.campaigns.results import per_variant

CAMPAIGNS = Campaign.__table__
RECIPIENTS = Recipient.__table__
DECIDES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED})


def decide(engine: Engine, now: datetime, campaign_id: int, days: float, *, seq: int | None = None) -> tuple[int, str]:
    """The winner (its seq) and why; the owner's pick when `seq` is given. CampaignError when the
    campaign is no A/B test, not started, finished, already decided, or has no such variant."""
    with engine.begin() as conn:
        row = conn.execute(select(Campaign.status, Campaign.sample, Campaign.measure, Campaign.winner_id)
                           .where(Campaign.id == campaign_id)).one_or_none()
        if row is None:
            raise CampaignError(f"no campaign {campaign_id}", missing=True)
        if row.sample is None:
            raise CampaignError(f"campaign {campaign_id} is not an A/B test")
        if row.winner_id is not None:
            raise CampaignError(f"campaign {campaign_id}'s winner is decided already")
        if row.status not in DECIDES:
            raise CampaignError(f"campaign {campaign_id} is {row.status}: a winner is picked once it is started")
        variants = dict(conn.execute(select(Variant.seq, Variant.id).where(Variant.campaign_id == campaign_id)).all())
        if seq is not None:
            if seq not in variants:
                raise CampaignError(f"campaign {campaign_id} has no variant {seq}", field="variant")
            winner, why = seq, "picked by the owner"
        else:
            winner, why = ab.pick(_scores(conn, campaign_id, days, row.measure, variants), row.measure)
        if not conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id, CAMPAIGNS.c.winner_id.is_(None))
                            .values(winner_id=variants[winner], decided_at=now, decision=why, updated_at=now)).rowcount:
            raise CampaignError(f"campaign {campaign_id}'s winner is decided already")
        conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.campaign_id == campaign_id,
                                              RECIPIENTS.c.state == RecipientState.HELD)
                     .values(state=RecipientState.PENDING, variant_id=variants[winner], updated_at=now))
    return winner, why


def _scores(conn: Connection, campaign_id: int, days: float, measure: str, variants: dict[int, int]) -> list[ab.Score]:
    figures = per_variant(conn, campaign_id, days, sample_only=True)
    counted = ab.counted_figure(measure)
    out = []
    for seq, variant_id in sorted(variants.items()):
        own = figures.get(variant_id)
        tried = own.counts["sent"] + own.counts["failed"] if own else 0  # each message that went, or tried to
        out.append(ab.Score(seq, tried, own.counts[counted] if own else 0))
    return out
