"""How many opt-outs were recorded since a time: the dashboard's figure (ix_consent_events_kind_at)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from gateway.consent.models import ConsentEvent, ConsentKind


def opt_outs_since(conn: Connection, since: datetime) -> int:
    """Opt-out entries of the ledger at or after `since` (every scope, every source: STOP, form, staff)."""
    return int(conn.execute(select(func.count()).select_from(ConsentEvent)
                            .where(ConsentEvent.kind == ConsentKind.OPT_OUT, ConsentEvent.at >= since)).scalar_one())
