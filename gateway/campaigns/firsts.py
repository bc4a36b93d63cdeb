"""Who has had a marketing message from the shop already, for the footer that goes only on a
contact's first: one query per batch on the messages' number index."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from gateway.outbound.models import Message, MessageStatus

# a marketing message that went, or may still go; one cancelled, suppressed, expired or failed never reached them
REACHED = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED,
           MessageStatus.UNKNOWN)


def texted_before(conn: Connection, numbers: Sequence[str]) -> set[str]:
    """The numbers among `numbers` with a marketing message that went or is waiting to go."""
    if not numbers:
        return set()
    return set(conn.scalars(select(Message.to_number).distinct().where(
        Message.to_number.in_(numbers), Message.kind == "marketing", Message.status.in_(REACHED))))
