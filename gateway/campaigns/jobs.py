"""A campaign's scheduler job: in the persistent job store ("default", the database), so a
scheduled or running campaign survives a restart, and one due while the box was off runs when it
comes back. APScheduler stores the job by the name of an importable function: `tick` finds this
process's `Campaigns` through `install`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from gateway.campaigns.service import Campaigns

TICK_S = 60.0  # a running campaign looks again this often (window edges, room in the queue)
_service: Campaigns | None = None


def install(service: Campaigns) -> None:
    """The Campaigns the stored jobs of this process run on (the daemon's)."""
    global _service
    _service = service


def tick(campaign_id: int) -> float | None:
    """The stored job's function: one round of the campaign; may ask to run again sooner."""
    if _service is None:
        raise RuntimeError("no campaigns service in this process")
    return _service.tick(campaign_id)


def job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def schedule(scheduler: Any, campaign_id: int, when: datetime) -> None:
    """Run the campaign's rounds from `when` on (replacing its job if it has one)."""
    scheduler.add_job(tick, IntervalTrigger(seconds=TICK_S, start_date=when, timezone=UTC), args=[campaign_id],
                      id=job_id(campaign_id), name=job_id(campaign_id), jobstore="default",
                      replace_existing=True, next_run_time=when)


def unschedule(scheduler: Any, campaign_id: int) -> None:
    try:
        scheduler.remove_job(job_id(campaign_id), "default")
    except JobLookupError:
        pass
