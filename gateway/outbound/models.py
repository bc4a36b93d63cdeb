"""Tables of the send path: messages, their parts, early status reports, the event log, templates.

Nothing is sent that was not stored first, and the engine never deletes a row: a message, its parts
and every state change with its time stay for the record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.store.base import Base, UtcDateTime


class MessageStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    SUPPRESSED = "suppressed"
    FINAL = frozenset({DELIVERED, FAILED, EXPIRED, CANCELLED, UNKNOWN, SUPPRESSED})
    ALL = frozenset({QUEUED, SENDING, SENT} | FINAL)


class PartStatus:
    PENDING = "pending"  # not handed to a modem yet
    SUBMITTING = "submitting"  # written to the modem, answer not recorded yet (in doubt after a crash)
    SENT = "sent"  # the modem answered +CMGS: <mr>; its status report is awaited
    NO_REPORT = "no_report"  # sent, and no status report came within [reports] wait_hours (report_at: when
    # that was recorded); a report that still comes is applied
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Priority:
    HIGH = 0
    NORMAL = 1
    BULK = 2
    BY_NAME = {"high": HIGH, "normal": NORMAL, "bulk": BULK}
    NAME = {v: k for k, v in BY_NAME.items()}


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_number: Mapped[str] = mapped_column(String(20))  # ix_messages_number_kind
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="transactional")
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED)
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    concat_ref: Mapped[int | None] = mapped_column(Integer)
    sim_requested: Mapped[str | None] = mapped_column(String(64))  # pinned by the caller
    sim: Mapped[str | None] = mapped_column(String(64))  # the SIM that sends (or sent) it
    source: Mapped[str] = mapped_column(String(16), default="cli")
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the campaign that queued it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)  # retry backoff, quiet hours
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    parts: Mapped[list[Part]] = relationship(back_populates="message", order_by="Part.seq")
    events: Mapped[list[MessageEvent]] = relationship(back_populates="message", order_by="MessageEvent.id")

    __table_args__ = (
        Index("ix_messages_claim", "status", "priority", "not_before", "id"),  # due first, per priority
        # a number's messages of a kind (the frequency cap at every marketing send, a campaign's dry run);
        # with the number alone SQLite took the kind's index and read every marketing message
        Index("ix_messages_number_kind", "to_number", "kind", "id"),
        Index("ix_messages_status_id", "status", "id"),  # the list filters, newest first
        Index("ix_messages_sim_id", "sim", "id"),
        Index("ix_messages_kind_id", "kind", "id"),
        Index("ix_messages_sent_at", "sent_at"),  # the dashboard's sent per hour/day
        Index("ix_messages_status_finished", "status", "finished_at"),  # its delivered/failed per hour/day
    )


class Part(Base):
    __tablename__ = "message_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PartStatus.PENDING)
    modem: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[int | None] = mapped_column(Integer)  # TP-MR from +CMGS
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    report_status: Mapped[int | None] = mapped_column(Integer)  # TP-Status of the status report
    report_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="parts")

    __table_args__ = (
        UniqueConstraint("message_id", "seq"),
        Index("ix_parts_modem_submitted", "modem", "submitted_at"),
        Index("ix_parts_modem_reference", "modem", "reference", "submitted_at"),  # newest first, for reports
        Index("ix_parts_status_sent", "status", "sent_at"),  # the parts whose wait for a report is over
    )


class EarlyReport(Base):
    """A status report that matched no recorded part when it came: the network can answer before
    the part's `sent` commit, so it waits here and is applied when that part is recorded with its
    reference (`part_id` then names it)."""

    __tablename__ = "early_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)  # TP-Status
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    discharged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("message_parts.id"))

    __table_args__ = (Index("ix_early_reports_modem_reference", "modem", "reference", "received_at"),)


class MessageEvent(Base):
    """Every state change of a message or one of its parts, with its time."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    part_seq: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="events")


class MessageTemplate(Base):
    """A named text with placeholders ("Hi {first_name}, your table is ready"), used by the API, the
    console and campaigns; gateway.outbound.templating fills it in."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="transactional")  # what messages from it are
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
