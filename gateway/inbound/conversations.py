"""Conversation threads: one per customer and SIM, so a reply goes out from the number they wrote to.

A thread is the inbound messages filed under it plus the outbound messages to that number from (or
pinned to) that SIM, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.inbound.models import Conversation, InboundMessage
from gateway.outbound.models import Message


@dataclass(frozen=True)
class Entry:
    direction: str  # "in" | "out"
    at: datetime
    text: str
    status: str  # outbound: the message status; inbound: "received" or "incomplete"
    id: int


def get_or_create(session: Session, number: str, sim: str, contact_id: int | None, now: datetime) -> Conversation:
    conversation = session.scalar(select(Conversation).where(Conversation.number == number,
                                                             Conversation.sim == sim))
    if conversation is None:
        conversation = Conversation(number=number, sim=sim, contact_id=contact_id, unread=0,
                                    last_message_at=now, created_at=now)
        session.add(conversation)
        session.flush()
    elif conversation.contact_id is None and contact_id is not None:
        conversation.contact_id = contact_id
    return conversation


def thread(session: Session, conversation_id: int) -> list[Entry]:
    conversation = session.get_one(Conversation, conversation_id)
    inbound = session.scalars(select(InboundMessage).where(InboundMessage.conversation_id == conversation_id)).all()
    outbound = session.scalars(select(Message).where(
        Message.to_number == conversation.number,
        or_(Message.sim == conversation.sim, Message.sim_requested == conversation.sim))).all()
    entries = [Entry("in", m.received_at, m.text, "received" if m.complete else "incomplete", m.id) for m in inbound]
    entries += [Entry("out", m.created_at, m.text, m.status, m.id) for m in outbound]
    return sorted(entries, key=lambda e: (e.at, e.direction == "out", e.id))
