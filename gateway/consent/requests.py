"""Texts that read like a request to stop but are no keyword ("please don't text me any more"):
the pipeline files one (`file`), marketing to the contact is held while one is pending (the
send-time check and the campaigns' audience ask `pending`), and staff decide what it asks (`decide`):
an opt-out, logged in the ledger by whoever decided, or not an opt-out, which lifts the hold.
Reading free text is a guess; holding marketing until a person has read it is not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from gateway.consent.models import OptOutRequest, OptOutRequestDecision
from gateway.consent.rules import HELD

__all__ = ["ACTION", "HELD", "decide", "file", "pending", "pending_for_messages"]
ACTION = "opt_out_asked"  # the inbound message's action: what the inbox marks it with


def file(session: Session, contact_id: int, inbound_message_id: int, now: datetime) -> OptOutRequest:
    """Hold marketing to this contact until staff read the text."""
    request = OptOutRequest(contact_id=contact_id, inbound_message_id=inbound_message_id, at=now)
    session.add(request)
    return request


def pending(conn: Connection | Session, contact_ids: Sequence[int]) -> dict[int, datetime]:
    """The contacts among these with a request no one has decided yet, and since when (the oldest)."""
    if not contact_ids:
        return {}
    rows = conn.execute(select(OptOutRequest.contact_id, OptOutRequest.at)
                        .where(OptOutRequest.contact_id.in_(list(contact_ids)), OptOutRequest.decided_at.is_(None))
                        .order_by(OptOutRequest.at.desc())).all()
    return {row.contact_id: row.at for row in rows}


def pending_for_messages(session: Session, inbound_ids: Sequence[int]) -> dict[int, int]:
    """Which of these inbound messages have an undecided request: inbound id -> request id."""
    if not inbound_ids:
        return {}
    rows = session.execute(select(OptOutRequest.inbound_message_id, OptOutRequest.id)
                           .where(OptOutRequest.inbound_message_id.in_(list(inbound_ids)),
                                  OptOutRequest.decided_at.is_(None))).all()
    return {row.inbound_message_id: row.id for row in rows}


def decide(session: Session, request_id: int, decision: str, by: str, now: datetime) -> OptOutRequest | None:
    """Record what staff read in the text, once (a compare-and-set on its pending state); None when
    it was decided already or does not exist. Logging the opt-out itself is the caller's, in the same
    transaction, through `Audience.opt_out`."""
    if decision not in OptOutRequestDecision.VALUES:
        raise ValueError(f"unknown decision {decision!r}")
    done = session.execute(update(OptOutRequest).where(OptOutRequest.id == request_id,
                                                       OptOutRequest.decided_at.is_(None))
                           .values(decided_at=now, decision=decision, decided_by=by[:64])).rowcount
    return session.get(OptOutRequest, request_id) if done else None
