"""What the web app's routes need, handed in by whoever builds the app (the daemon, or a test)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gateway.campaigns.service import Campaigns
from gateway.consent.optin import Audience
from gateway.core.clock import Clock
from gateway.core.config import Config
from gateway.inbound.pipeline import InboundPipeline
from gateway.metrics.counters import GatewayMetrics
from gateway.outbound.queue import Queue
from gateway.sims.control import ModemControl
from gateway.webhooks.outbox import Webhooks


@dataclass
class WebContext:
    queue: Queue
    sessions: sessionmaker[Session]
    clock: Clock
    config: Config
    webhooks: Webhooks
    audience: Audience  # the one way to opt in or out (webhooks hear it)
    # the running inbound pipeline, told to reload keywords after a change (None: nothing to tell)
    inbound: InboundPipeline | None = None
    # campaigns (create, start, the dry run); None: the API answers 503 for them
    campaigns: Campaigns | None = None
    # status, health and limits of each modem (gateway.sims.status.describe); the daemon supplies
    # it from its supervisors and workers, tests from whatever they like
    modems: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    # restart and USSD on the running modems; None: the console offers neither
    control: ModemControl | None = None
    # what /metrics exposes; the daemon hands in the one its rooms count into, otherwise one is made
    # here hearing this context's queue, inbound pipeline and webhooks
    metrics: GatewayMetrics | None = None

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = GatewayMetrics(self.queue)
            self.metrics.attach(queue=self.queue, inbound=self.inbound, webhooks=self.webhooks)
