"""Gauges read at scrape time, each an indexed count of what is still open (never a table scan):
messages waiting or being sent, webhook deliveries pending."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.outbound.models import Message, MessageStatus
from gateway.store import db
from gateway.webhooks.models import DeliveryStatus, WebhookDelivery

OPEN = (MessageStatus.QUEUED, MessageStatus.SENDING)  # on ix_messages_status_id


class StoredCounts(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.sessions(bind=db.read_only(db.engine_of(self.sessions))) as session:  # never behind a writer
            depth = dict(tuple(row) for row in session.execute(
                select(Message.status, func.count()).where(Message.status.in_(OPEN)).group_by(Message.status)))
            pending = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status == DeliveryStatus.PENDING)) or 0  # on ix_webhook_deliveries_due
        queue = GaugeMetricFamily("gsmgw_queue_messages", "Messages waiting (queued) or being sent", labels=["status"])
        for status in OPEN:
            queue.add_metric([status], depth.get(status, 0))
        yield queue
        yield GaugeMetricFamily("gsmgw_webhook_deliveries_pending", "Webhook deliveries not yet made", value=pending)

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape only: registering must not query the database
