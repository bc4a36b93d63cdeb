"""A campaign's scheduler jobs: in the persistent job store ("default", the database), so a
scheduled or running campaign survives a restart, and one due while the box was off runs when it
comes back. An A/B test has a second job, its decision: once, at the start plus `decide_after`
(or when the box is back, if it was off then). APScheduler stores the job by the name of an importable function: `tick` finds this
process's `Campaigns` through `install`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from gateway.campaigns.service import Campaigns

TICK_S = 60.0  # a running campaign looks again this often (window edges, room in the queue): [campaigns] round_interval_s
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


def decide(campaign_id: int) -> None:
    """The stored decision job's function: the A/B test's winner by its measure (once)."""
    if _service is None:
        raise RuntimeError("no campaigns service in this process")
    _service.decide_due(campaign_id)


def job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def decision_job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-decision"


def schedule_decision(scheduler: Any, campaign_id: int, when: datetime) -> None:
    """Decide the A/B test at `when`, once (replacing an earlier decision job)."""
    scheduler.add_job(decide, DateTrigger(run_date=when, timezone=UTC), args=[campaign_id],
                      id=decision_job_id(campaign_id), name=decision_job_id(campaign_id), jobstore="default",
                      replace_existing=True, next_run_time=when)


def schedule(scheduler: Any, campaign_id: int, when: datetime, every: float = TICK_S) -> None:
    """Run the campaign's rounds from `when` on, one each `every` seconds (replacing its job if it has one)."""
    scheduler.add_job(tick, IntervalTrigger(seconds=every, start_date=when, timezone=UTC), args=[campaign_id],
                      id=job_id(campaign_id), name=job_id(campaign_id), jobstore="default",
                      replace_existing=True, next_run_time=when)


def interval_of(job: Any) -> float | None:
    """How many seconds apart a stored job's rounds are (None: not an interval job)."""
    interval = getattr(job.trigger, "interval", None)
    return interval.total_seconds() if interval is not None else None


def unschedule(scheduler: Any, campaign_id: int, *, decision: bool = False) -> None:
    """Remove the campaign's rounds (`decision`: its A/B decision job instead)."""
    try:
        scheduler.remove_job(decision_job_id(campaign_id) if decision else job_id(campaign_id), "default")
    except JobLookupError:
        pass
