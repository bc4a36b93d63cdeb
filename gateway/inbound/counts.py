"""How many texts came in since a time: the dashboard's replies (from the received_at index)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from gateway.inbound.models import InboundMessage


def received_since(conn: Connection, since: datetime) -> int:
    """Texts stored (reassembled: a long text counts once) whose arrival is at or after `since`."""
    return int(conn.execute(select(func.count()).select_from(InboundMessage)
                            .where(InboundMessage.received_at >= since)).scalar_one())
