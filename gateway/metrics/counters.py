"""Counters kept as the work happens (prometheus-client), one registry per gateway.

They hear the existing hooks: a status change or a stored SMS counts only once its transaction
commits (the hook returns the increment to run after the commit), so a change that rolls back is
never counted. Nothing here scans a table; the few gauges are indexed counts (`gauges.py`).
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Info
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import Connection, bindparam, select

from gateway.core.hooks import After
from gateway.inbound.models import InboundMessage
from gateway.metrics.gauges import StoredCounts
from gateway.outbound import change_facts
from gateway.outbound.models import Message, MessageStatus
from gateway.outbound.queue import Queue
from gateway.store.db import Prepared

PER_SIM = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED)  # counted with their SIM
OTHER_ENDS = (MessageStatus.SUPPRESSED, MessageStatus.EXPIRED, MessageStatus.CANCELLED, MessageStatus.UNKNOWN)
_SIM_OF = Prepared(select(Message.sim).where(Message.id == bindparam("message_id")))  # on every final status


def version() -> str:
    try:
        return metadata.version("gsmgw")
    except metadata.PackageNotFoundError:
        return "unknown"


class GatewayMetrics:
    """`registry` is what /metrics exposes; `attach` wires the counters to a gateway's rooms."""

    def __init__(self, queue: Queue) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("gsmgw_build", "The running gsmgw", registry=self.registry).info(
            {"version": version(), "python": platform.python_version()})
        r = self.registry
        self.by_status = {
            MessageStatus.SENT: Counter("gsmgw_messages_sent", "Messages whose every part the network accepted",
                                        ["sim"], registry=r),
            MessageStatus.DELIVERED: Counter("gsmgw_messages_delivered", "Messages the network reported delivered",
                                             ["sim"], registry=r),
            MessageStatus.FAILED: Counter("gsmgw_messages_failed", "Messages that failed", ["sim"], registry=r),
        }
        self.no_report = Counter("gsmgw_messages_no_report", "Sent messages for which no status report came within "
                                 "[reports] wait_hours (they stay sent)", ["sim"], registry=r)
        self.ended = Counter("gsmgw_messages_ended", "Messages ended without a send (suppressed, expired, "
                             "cancelled) or in doubt (unknown)", ["status"], registry=r)
        self.received = Counter("gsmgw_messages_received", "SMS received (joined from their parts)", ["sim"],
                                registry=r)
        self.webhook_attempts = Counter("gsmgw_webhook_attempts", "Webhook delivery attempts by outcome",
                                        ["outcome"], registry=r)
        r.register(StoredCounts(queue.sessions, queue))

    def attach(self, *, queue: Any = None, inbound: Any = None, webhooks: Any = None) -> None:
        """Hear a queue's status changes, an inbound pipeline's stored SMS and a webhook outbox's attempts."""
        if queue is not None and self.on_status not in queue.status_hooks:
            queue.status_hooks.append(self.on_status)
            queue.no_report_listeners.append(self.on_no_report)
        if inbound is not None and self.on_received not in inbound.received_hooks:
            inbound.received_hooks.append(self.on_received)
        if webhooks is not None:
            webhooks.on_attempt = self.on_webhook_attempt

    def on_status(self, conn: Connection, message_id: int, status: str) -> After | None:
        """Queue.status_hooks: the increment, to run after the change commits."""
        if status in PER_SIM:
            known = change_facts.known(message_id)  # the send path's `sent` returned it
            sim = (known.sim if known is not None else _SIM_OF(conn, {"message_id": message_id}).scalar()) or ""
            return self.by_status[status].labels(sim=sim).inc
        if status in OTHER_ENDS:
            return self.ended.labels(status=status).inc
        return None

    def on_no_report(self, message_id: int, sim: str | None) -> None:
        """Queue.no_report_listeners: after the commit that gave up its last awaited report."""
        self.no_report.labels(sim=sim or "").inc()

    def on_received(self, conn: Connection, message: InboundMessage) -> After:
        """InboundPipeline.received_hooks: counted once the SMS is stored."""
        return self.received.labels(sim=message.modem).inc

    def on_webhook_attempt(self, ok: bool) -> None:
        self.webhook_attempts.labels(outcome="ok" if ok else "failed").inc()
