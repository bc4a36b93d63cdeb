"""The daemon's inbound handler: what a modem reads off its SIM is stored before the SIM copy goes.

Status reports are applied to the part they answer (through the queue); each SMS part becomes an
`inbound_parts` row, once, and its listeners (the inbound pipeline) hear of it after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, timedelta

from sqlalchemy import select

from gateway.core.clock import Clock
from gateway.inbound.models import InboundPart
from gateway.outbound.engine import Engine
from modem.pdu import StatusReport
from modem.session import InboundSms

log = logging.getLogger("gsmgw.engine")

# How far back a part read off a SIM is looked for among those stored: as long as an SMS can wait on
# a SIM between being stored and its slot being deleted (a daemon down over a long weekend).
DUPLICATE_WINDOW = timedelta(days=7)


class StoringInbound:
    """Inbound handler: status reports update parts; SMS are stored before the SIM copy goes."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.received: list[Callable[[InboundPart], None]] = []

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        matched = self.engine.queue.apply_report(modem, report)
        if matched is None:
            log.info("%s: status report for reference %d (%s) matches no recorded part; kept until one is",
                     modem, report.reference, report.recipient)
        return True

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        """Store the part, once: the same PDU from the same SIM within DUPLICATE_WINDOW is the SMS
        read again (a crash before its slot was deleted, a sweep and a +CMTI, an unacknowledged
        +CMT sent again), kept but not stored or announced a second time."""
        message = sms.message
        part = InboundPart(
            modem=modem, raw_pdu=sms.raw_pdu, error=sms.error, received_at=self.clock.now(),
            sender=message.sender if message else None, text=message.text if message else None,
            sent_at=message.timestamp.astimezone(UTC) if message and message.timestamp else None,
            concat_ref=message.concat.reference if message and message.concat else None,
            concat_total=message.concat.total if message and message.concat else None,
            concat_seq=message.concat.seq if message and message.concat else None,
        )
        with self.engine.queue.sessions.begin() as session:
            earlier = session.scalar(select(InboundPart.id).where(
                InboundPart.received_at >= part.received_at - DUPLICATE_WINDOW, InboundPart.modem == modem,
                InboundPart.raw_pdu == sms.raw_pdu).limit(1))
            if earlier is not None:
                log.info("%s: SMS from %s read again; stored already (%d)", modem, part.sender, earlier)
                return True
            session.add(part)
        log.info("%s: SMS from %s stored (%d)", modem, part.sender, part.id)
        for listener in self.received:
            listener(part)
        return True
