"""A campaign's recipient rows, made from its audience in batches by contact id, each batch one
transaction that also records how far it got (`expanded_to`), so a kill mid-way resumes there and
the unique key makes each contact one row. Each member gets its variant here (`split.Split`),
recorded on its row; outside an A/B test's sample it is `held` until the winner is known."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from gateway.campaigns import audience
from gateway.consent import requests
from gateway.campaigns.models import Campaign, RecipientState, Recipient, Variant
from gateway.campaigns.split import Split

RECIPIENTS = Recipient.__table__
CAMPAIGNS = Campaign.__table__


def split_of(conn: Connection, campaign_id: int) -> tuple[Split, list[int], int | None]:
    """The campaign's split, its variants' ids in order, and the winner's id if there is one."""
    seed, sample, winner = conn.execute(select(Campaign.seed, Campaign.sample, Campaign.winner_id)
                                        .where(Campaign.id == campaign_id)).one()
    variants = conn.execute(select(Variant.id, Variant.weight).where(Variant.campaign_id == campaign_id)
                            .order_by(Variant.seq)).all()
    split = Split(campaign_id, tuple(w for _, w in variants), seed or 0, sample)
    return split, [vid for vid, _ in variants], winner


def expand_batch(engine: Engine, now: datetime, campaign_id: int, spec: dict[str, Any], after: int,
                 limit: int) -> tuple[bool, int]:
    """The next batch of audience members as recipient rows; (all done, last contact id)."""
    with engine.begin() as conn:
        split, variant_ids, winner = split_of(conn, campaign_id)
        batch = audience.members(conn, spec, now, after=after, limit=limit)
        consent = audience.consent_of(conn, [m.id for m in batch])
        held = requests.pending(conn, [m.id for m in batch])
        rows = []
        for member in batch:
            reason = audience.skip_reason(member.flag, consent[member.id], member.id in held)
            index, in_sample = split.assign(member.id)
            state = RecipientState.SKIPPED if reason else RecipientState.PENDING
            variant = variant_ids[index]
            if in_sample is False and not reason:
                state, variant = (RecipientState.PENDING, winner) if winner else (RecipientState.HELD, variant)
            rows.append({"campaign_id": campaign_id, "contact_id": member.id, "variant_id": variant,
                         "in_sample": None if reason else in_sample, "state": state, "reason": reason,
                         "updated_at": now})
        if rows:
            conn.execute(insert(RECIPIENTS), rows)
        last = batch[-1].id if batch else after
        done = len(batch) < limit
        conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
                     .values(expanded_to=last, expanded=done, updated_at=now))
    return done, last
