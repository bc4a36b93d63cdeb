"""Tables of campaigns: the campaign, its variants, and every recipient as a row with its state and
the message it became, so a campaign is resumable and auditable. Portable SQL only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


class CampaignStatus:
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # started, waiting for send_at
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    ALL = (DRAFT, SCHEDULED, RUNNING, PAUSED, DONE, CANCELLED)
    LIVE = frozenset({SCHEDULED, RUNNING})  # its scheduler job has work to do


class RecipientState:
    PENDING = "pending"  # in the audience, no message yet
    QUEUED = "queued"  # its message is stored (message_id); the message's status says the rest
    SKIPPED = "skipped"  # never texted: `reason` says why (opted out, no consent, invalid number)
    HELD = "held"  # outside an A/B test's sample: pending once the winner is known (its variant then)
    CANCELLED = "cancelled"  # the campaign was cancelled before it was texted


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"groups", "tags", "segment"} as given
    footer: Mapped[bool] = mapped_column(Boolean, default=False)  # opt-out footer in the contact's language
    footer_first: Mapped[bool] = mapped_column(Boolean, default=False)  # only on a contact's first marketing text
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_start: Mapped[str | None] = mapped_column(String(5))  # "10:00", in each contact's timezone
    window_end: Mapped[str | None] = mapped_column(String(5))
    expanded_to: Mapped[int | None] = mapped_column(Integer)  # audience rows made up to this contact id
    expanded: Mapped[bool] = mapped_column(Boolean, default=False)  # every recipient has its row
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # an A/B test (sample set): the sample's variants first, the winner to the rest after decide_after_s
    seed: Mapped[int] = mapped_column(Integer, default=0)  # the split's seed: the same seed, the same split
    sample: Mapped[int | None] = mapped_column(Integer)  # percent of the audience in the test
    decide_after_s: Mapped[int | None] = mapped_column(Integer)  # from the start to the decision
    measure: Mapped[str | None] = mapped_column(String(16))  # ab.MEASURES
    winner_id: Mapped[int | None] = mapped_column(Integer)  # the variant the rest gets
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision: Mapped[str | None] = mapped_column(Text)  # how the winner was chosen, in words


class Variant(Base):
    """One text of a campaign (one for a plain campaign; several for an A/B test)."""

    __tablename__ = "campaign_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 0, 1, ...: "A", "B"
    body: Mapped[str] = mapped_column(Text)  # the text, or the template's body when it was created
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    weight: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("campaign_id", "seq"),)


class Recipient(Base):
    """One contact of a campaign: at most one row per contact (the unique key), and its message is
    stored in the same transaction that marks it queued, so nobody is texted twice."""

    __tablename__ = "campaign_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    # a held recipient's variant is provisional: the winner's once it is decided
    variant_id: Mapped[int] = mapped_column(ForeignKey("campaign_variants.id"))
    in_sample: Mapped[bool | None] = mapped_column(Boolean)  # A/B tests: in the test's sample or the rest
    state: Mapped[str] = mapped_column(String(16), default=RecipientState.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was skipped
    # no foreign key: retention prunes old messages, the recipient row stays as the record
    message_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_state", "campaign_id", "state", "id"),
    )
