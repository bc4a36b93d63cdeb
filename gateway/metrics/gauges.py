"""Gauges read at scrape time, each an indexed count of what is still open (never a table scan):
messages waiting or being sent, webhook deliveries pending."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.outbound.models import MessageStatus
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.webhooks.models import DeliveryStatus, WebhookDelivery

OPEN = (MessageStatus.QUEUED, MessageStatus.SENDING)


class StoredCounts(Collector):
    def __init__(self, sessions: sessionmaker[Session], queue: Queue) -> None:
        self.sessions = sessions
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = self.queue.open_counts(OPEN)
        with self.sessions(bind=db.read_only(db.engine_of(self.sessions))) as session:  # never behind a writer
            pending = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status == DeliveryStatus.PENDING)) or 0  # on ix_webhook_deliveries_due
        queue = GaugeMetricFamily("gsmgw_queue_messages", "Messages waiting (queued) or being sent", labels=["status"])
        for status, count in depth.items():
            queue.add_metric([status], count)
        yield queue
        yield GaugeMetricFamily("gsmgw_webhook_deliveries_pending", "Webhook deliveries not yet made", value=pending)

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape only: registering must not query the database
