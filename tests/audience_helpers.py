"""Helpers for the audience tests: a pipeline on a real SQLite file, parts stored as the engine does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from gateway.audience.models import Contact
from gateway.consent.models import ConsentEvent
from gateway.consent.optin import Audience
from gateway.core.clock import FakeClock
from gateway.core.config_sections import ConsentSection, InboundSection
from gateway.inbound.models import InboundPart
from gateway.inbound.pipeline import InboundPipeline
from gateway.outbound.models import Message
from gateway.outbound.queue import Queue


@dataclass
class Rig:
    queue: Queue
    clock: FakeClock
    audience: Audience
    pipeline: InboundPipeline

    def receive(self, sender: str, text: str, *, modem: str = "sim1", concat: tuple[int, int, int] | None = None,
                deliver: bool = True) -> InboundPart:
        """Store a part the way StoringInbound does, then hand it to the pipeline."""
        ref, total, seq = concat or (None, None, None)
        part = InboundPart(modem=modem, sender=sender, text=text, raw_pdu="00", received_at=self.clock.now(),
                           sent_at=self.clock.now(), concat_ref=ref, concat_total=total, concat_seq=seq)
        with self.queue.sessions.begin() as session:
            session.add(part)
        if deliver:
            self.pipeline(part)
        return part

    def ledger(self, number: str) -> list[tuple[str, str, str]]:
        with self.queue.sessions() as session:
            contact = session.scalar(select(Contact).where(Contact.number == number))
            if contact is None:
                return []
            return [(e.kind, e.scope, e.source) for e in session.scalars(
                select(ConsentEvent).where(ConsentEvent.contact_id == contact.id).order_by(ConsentEvent.id))]

    def outbox(self, number: str | None = None) -> list[Message]:
        with self.queue.sessions() as session:
            query = select(Message).order_by(Message.id)
            if number:
                query = query.where(Message.to_number == number)
            return list(session.scalars(query).all())


def make_rig(queue: Queue, clock: FakeClock, *, consent: ConsentSection | None = None,
             inbound: InboundSection | None = None, start: bool = True) -> Rig:
    audience = Audience(queue.sessions, clock, queue, settings=consent or ConsentSection())
    pipeline = InboundPipeline(queue.sessions, clock, queue, audience, settings=inbound or InboundSection())
    if start:
        pipeline.start()
    return Rig(queue, clock, audience, pipeline)
