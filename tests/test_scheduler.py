"""The scheduler on the FakeClock: jobs fall due as the test moves time (never on APScheduler's wall
clock), coalesce, survive a job that raises, follow the clock back; the database job store keeps
its jobs across a restart and Alembic knows its table; the running daemon prunes from it."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gateway.core.clock import FakeClock
from gateway.scheduler import jobs
from gateway.scheduler.service import THREAD_NAME, Scheduler
from gateway.store import db
from gateway.store.base import Base
from gateway.store.retention import REDACTED

from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(60)
RAN: list[str] = []  # what the persistent job below was run with


def persistent_job(word: str) -> None:
    RAN.append(word)


class Counter:
    def __init__(self, answer: float | None = None, fail: bool = False) -> None:
        self.runs: list[float] = []
        self.answer = answer
        self.fail = fail
        self.clock = None

    def __call__(self) -> float | None:
        self.runs.append(self.clock.time())
        if self.fail:
            raise RuntimeError("this job fails on purpose")
        return self.answer


@pytest.fixture
def scheduler(clock):
    made = Scheduler(clock)
    yield made
    made.shutdown()


def add(scheduler: Scheduler, clock, job_id: str, seconds: float, **kwargs) -> Counter:
    counter = Counter(**kwargs)
    counter.clock = clock
    scheduler.every(job_id, seconds, counter)
    return counter


def running(scheduler: Scheduler, clock, job_id: str, seconds: float, **kwargs) -> tuple[Counter, float]:
    """One job on a started scheduler, after its first run: (the job, the clock time it ran)."""
    start = clock.time()
    job = add(scheduler, clock, job_id, seconds, **kwargs)
    scheduler.start()
    assert scheduler.wait_ran(job_id, start, 10)
    return job, start


def idle_until(clock, moment: float, since: float) -> None:
    """The scheduler went back to sleep, at clock time `since` or later, until `moment` or later:
    nothing runs before then."""
    def idle() -> bool:
        waiting = clock.waiting(THREAD_NAME)
        return waiting is not None and waiting[0] >= since and waiting[1] >= moment - 1e-6
    wait_until(idle, 10, f"the scheduler idle until {moment} (waits {clock.waiting(THREAD_NAME)})")


def test_a_job_runs_at_start_then_when_the_clock_reaches_its_interval(scheduler, clock):
    job, start = running(scheduler, clock, "tick", 60)
    clock.advance(59)
    idle_until(clock, start + 60, since=start)  # asleep since its run, until the interval
    assert job.runs == [start]
    clock.advance(1)
    assert scheduler.wait_ran("tick", start + 60, 10)
    assert job.runs == [start, start + 60]


def test_a_late_job_runs_once_not_once_per_missed_interval(scheduler, clock):
    job, start = running(scheduler, clock, "tick", 60)
    clock.advance(400 * 86400)  # a day's worth of missed runs, many times over
    assert scheduler.wait_ran("tick", start + 400 * 86400, 10)
    idle_until(clock, clock.time() + 1, since=clock.time())
    assert job.runs == [start, start + 400 * 86400]


def test_a_job_that_raises_is_logged_and_the_scheduler_goes_on(scheduler, clock, caplog):
    start = clock.time()
    failing = add(scheduler, clock, "failing", 60, fail=True)
    healthy = add(scheduler, clock, "healthy", 60)
    with caplog.at_level(logging.ERROR):
        scheduler.start()
        assert scheduler.wait_ran("failing", start, 10) and scheduler.wait_ran("healthy", start, 10)
        clock.advance(60)
        assert scheduler.wait_ran("failing", start + 60, 10) and scheduler.wait_ran("healthy", start + 60, 10)
    assert failing.runs == [start, start + 60] and healthy.runs == [start, start + 60]
    assert "this job fails on purpose" in caplog.text


def test_a_job_asking_to_run_sooner_runs_sooner(scheduler, clock):
    job, start = running(scheduler, clock, "eager", 60, answer=5.0)
    clock.advance(5)
    assert scheduler.wait_ran("eager", start + 5, 10)
    assert job.runs == [start, start + 5]


def test_run_soon_brings_a_job_forward(scheduler, clock):
    job, start = running(scheduler, clock, "sweep", 60)
    clock.advance(10)
    idle_until(clock, start + 60, since=start)
    scheduler.run_soon("sweep")
    assert scheduler.wait_ran("sweep", start + 10, 10)
    assert job.runs == [start, start + 10]


def test_after_the_clock_goes_back_a_job_runs_at_once_rather_than_stall(scheduler, clock):
    job, start = running(scheduler, clock, "tick", 60)
    clock.advance(-3600)  # NTP corrects a clock that ran ahead
    clock.advance(1)  # a wake-up on the new time (a real clock's waits are in real seconds)
    scheduler.wakeup()
    wait_until(lambda: len(job.runs) == 2, 10, "a run after the jump back")
    assert job.runs[1] == start - 3599


def test_the_database_job_store_keeps_a_job_across_a_restart(database, clock):
    db.upgrade(database)
    RAN.clear()
    first = Scheduler(clock, database)
    first.start(paused=True)
    first.add_job(f"{__name__}:persistent_job", "date", args=["kept"], id="campaign-1",
                  run_date=clock.now() + timedelta(seconds=30))
    first.shutdown()
    assert RAN == []
    second = Scheduler(clock, database)
    second.start()
    try:
        assert [j.id for j in second.get_jobs("default")] == ["campaign-1"]
        clock.advance(31)
        assert second.wait_ran("campaign-1", clock.time(), 10)
        assert RAN == ["kept"]
        wait_until(lambda: second.get_jobs("default") == [], 10, "the one-off job to be gone")
    finally:
        second.shutdown()


def test_a_job_another_process_stored_is_seen_within_a_minute(database, clock):
    db.upgrade(database)
    RAN.clear()
    running = Scheduler(clock, database)
    running.start()
    other = Scheduler(clock, database)  # `gsmgw` in another process: stores, runs nothing
    other.start(paused=True)
    try:
        start = clock.time()
        idle_until(clock, start + 1, since=start)  # the running one has read the empty table
        other.add_job(f"{__name__}:persistent_job", "date", args=["seen"], id="trigger-1",
                      run_date=clock.now() + timedelta(seconds=5))
        clock.advance(5)
        idle_until(clock, start + 60, since=start)  # still asleep: the table is read once a minute
        assert RAN == []
        clock.advance(60)
        assert running.wait_ran("trigger-1", start + 65, 10)
        assert RAN == ["seen"]
    finally:
        other.shutdown()
        running.shutdown()


def test_alembic_knows_the_job_store_table(database):
    db.upgrade(database)
    with database.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "scheduler_jobs" in repr(d)] == []
    with database.connect() as conn:
        assert "scheduler_jobs" in inspect(conn).get_table_names()


def test_a_job_added_without_a_time_runs_at_the_clocks_now():
    clock = FakeClock(start=1_000_000_000.0)  # years behind the wall clock: "now" must be the clock's
    scheduler = Scheduler(clock)
    scheduler.start()
    try:
        scheduler.add_job(persistent_job, args=["now"], id="once", jobstore="local")
        assert scheduler.wait_ran("once", clock.time(), 10)
        assert scheduler.get_job("once") is None
    finally:
        scheduler.shutdown()


def test_the_running_daemon_redacts_and_prunes_from_the_scheduler(daemon_factory, clock):
    daemon = daemon_factory()
    code = daemon.queue.enqueue("+447700900123", "Your code is 482913", kind="transactional")
    wait_until(lambda: daemon.queue.get(code.id).status == "delivered", 20, "the code to be delivered")
    clock.advance(25 * 3600)  # no one calls the pruning: the scheduler's hourly run comes due
    assert daemon.scheduler.wait_ran(jobs.RETENTION, clock.time(), 20)
    stored = daemon.queue.get(code.id)
    assert stored.text == REDACTED and stored.status == "delivered"
    assert [p.status for p in stored.parts] == ["delivered"]
    clock.advance(401 * 86400)
    assert daemon.scheduler.wait_ran(jobs.RETENTION, clock.time(), 20)
    assert daemon.queue.get(code.id) is None


def test_no_thread_of_the_old_loops_is_left(daemon_factory):
    daemon = daemon_factory()
    names = {t.name for t in threading.enumerate()}
    assert THREAD_NAME in names and "sweep" not in names
    assert daemon.scheduler.get_job(jobs.SWEEP) is not None
