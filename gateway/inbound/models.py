"""Tables of what comes in: parts as read off a modem, the messages they join into, conversations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


class InboundPart(Base):
    """An SMS (or one part of a long one) as it came off a modem, kept before the SIM copy is deleted."""

    __tablename__ = "inbound_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(32), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the network's timestamp
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    concat_ref: Mapped[int | None] = mapped_column(Integer)
    concat_total: Mapped[int | None] = mapped_column(Integer)
    concat_seq: Mapped[int | None] = mapped_column(Integer)
    raw_pdu: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)  # why it could not be decoded, if it could not


class Conversation(Base):
    """The thread between one customer and one of our SIMs (replies come from the SIM they wrote to)."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164, or the raw sender ("VODAFONE")
    sim: Mapped[str] = mapped_column(String(64))
    unread: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("number", "sim"),
        Index("ix_conversations_latest", "last_message_at", "id"),  # the inbox, newest first
        Index("ix_conversations_number_latest", "number", "last_message_at", "id"),  # a number's newest thread
    )


class InboundMessage(Base):
    """A received SMS after reassembly: one row per message, however many parts it came in."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    parts: Mapped[int] = mapped_column(Integer, default=1)  # parts that arrived
    parts_expected: Mapped[int] = mapped_column(Integer, default=1)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)  # False: stored after the timeout
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    keyword: Mapped[str | None] = mapped_column(String(64))  # the keyword it matched, if any
    action: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class InboundMessagePart(Base):
    """Which stored inbound_parts rows make up a message (a part belongs to one message at most)."""

    __tablename__ = "inbound_message_parts"

    inbound_part_id: Mapped[int] = mapped_column(ForeignKey("inbound_parts.id"), primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
