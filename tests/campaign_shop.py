"""A shop's daemon for the campaigns' end-to-end tests: the real daemon (gateway.daemon.Daemon) on
virtual modems, its scheduler on a FakeClock the test moves, and what the virtual network received
from our SIMs (its submit record)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.campaigns.models import Campaign, CampaignStatus
from gateway.core.clock import FakeClock
from gateway.scheduler.jobs import SWEEP

from .daemon_helpers import build_daemon, stopped_after
from .modem_helpers import wait_until

MORNING = datetime(2027, 1, 15, 9, 0, tzinfo=UTC).timestamp()  # 09:00 in London, outside quiet hours
FAST = {"per_minute": 1000, "per_hour": 10000, "per_day": 100000, "per_month": 1000000, "min_gap_s": 0}


def settle(daemon, timeout: float = 20) -> None:
    """Every job due by now has run: the sweep ran after this moment, and once more a minute later
    (the scheduler runs what is due in one round, the sweep first)."""
    for _ in range(2):
        assert daemon.scheduler.wait_ran(SWEEP, daemon.clock.time(), timeout)
        daemon.clock.advance(60)


class Shop:
    def __init__(self, tmp_path, clock: FakeClock, *, modems: int = 2, limits: dict | None = None) -> None:
        self.tmp_path, self.clock = tmp_path, clock
        self.daemon = build_daemon(tmp_path, clock, modems, gateway={"timezone": "Europe/London"},
                                   modems=[{"name": "limits", "port": "unused", "limits": limits or FAST}])
        self.daemon.start()
        assert self.daemon.wait_ready(20)
        self.campaigns = self.daemon.campaigns

    def parts_to(self, number: str) -> list[dict]:
        return [e for e in self.daemon.simulator.network.record.submitted if e["recipient"] == number]

    def status(self, campaign_id: int) -> str:
        with self.daemon.queue.sessions() as session:
            return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))

    def settle(self) -> None:
        settle(self.daemon)

    def wait_texted(self, numbers: Iterable[str]) -> None:
        """Until the network has received a part for each of `numbers`."""
        for number in numbers:
            wait_until(lambda: self.parts_to(number), 20, f"a text to {number}")

    def wait_done(self, campaign_id: int) -> None:
        """Until the campaign is done, the clock moved on a minute at a time for its rounds."""
        wait_until(lambda: self.status(campaign_id) == CampaignStatus.DONE or self.clock.advance(60), 20,
                   f"campaign {campaign_id} done")

    def stop(self) -> None:
        self.daemon.stop()


@pytest.fixture
def start_at() -> float:
    return MORNING


@pytest.fixture
def shop_factory(tmp_path, start_at):
    """make(**options) -> a started Shop; every shop made shares one FakeClock and is stopped after."""
    clock = FakeClock(start_at)
    with stopped_after(lambda **options: Shop(tmp_path, clock, **options)) as make:
        yield make
