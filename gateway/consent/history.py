"""A contact's consent history as people read it: each ledger entry with what the customer wrote
when the entry came from their SMS (the inbound message the entry cites, kept as long as the ledger)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.consent import ledger
from gateway.consent.models import ConsentEvent
from gateway.inbound.models import InboundMessage


@dataclass(frozen=True)
class Entry:
    event: ConsentEvent
    customer_text: str | None  # the SMS that made it, as received; None if it did not come by SMS


def entries(session: Session, contact_id: int) -> list[Entry]:
    """The contact's ledger, newest first, each entry with its SMS text (one query for the texts)."""
    events = ledger.history(session, contact_id)
    cited = [e.inbound_message_id for e in events if e.inbound_message_id is not None]
    texts = dict(session.execute(select(InboundMessage.id, InboundMessage.text)
                                 .where(InboundMessage.id.in_(cited))).all()) if cited else {}
    return [Entry(e, texts.get(e.inbound_message_id) if e.inbound_message_id is not None else None)
            for e in reversed(events)]
