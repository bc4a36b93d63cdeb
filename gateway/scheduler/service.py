"""One APScheduler (3.x) for the daemon's periodic jobs, on the daemon's Clock.

Time: APScheduler reads the wall clock (`datetime.now`) when it looks for due jobs and waits on a
real `threading.Event`. Here the one method that decides what is due (`_process_jobs`) reads
`clock.now()` instead, and the loop waits with `clock.wait`, so the Clock is the only source of
time: with the FakeClock a test's `advance` wakes the scheduler and runs exactly what became due,
never sleeping on APScheduler's wall clock. Jobs are given their next run time from the Clock
(`every`, `add_job`), and `misfire_grace_time=None` everywhere: a periodic job that is late (the
daemon was busy, or a Raspberry Pi's clock jumped forward at the NTP sync) runs once, coalesced,
instead of being skipped as misfired by APScheduler's wall-clock check.

Jobs run one at a time on the scheduler's own thread (APScheduler's inline "debug" executor), in
the order they fall due; each is idempotent and short (pruning does a few small batches and asks
to run again), so no job ever overlaps itself (max_instances=1) and none waits long for another.
A job that raises is logged by APScheduler and runs again at its next time; the daemon goes on.
A job may return a number of seconds: it runs again within that time (sooner than its interval),
as the sweep does for the next message expiry.

Job stores: "local" (memory) holds the built-in jobs, which are bound to this process's live
objects and made again from the config at every start; "default" is the gateway's database
(SQLAlchemyJobStore on the daemon's engine, table `scheduler_jobs` made by migration 0010), for
jobs that must outlive the process (campaigns, triggers): they need an importable function.
"""

from __future__ import annotations

import logging
import threading
from threading import TIMEOUT_MAX
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.debug import DebugExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED, BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined
from sqlalchemy import Engine, MetaData

from gateway.core.clock import Clock
from gateway.scheduler.models import JOBS_TABLE

log = logging.getLogger("gsmgw.scheduler")
THREAD_NAME = "scheduler"
RECHECK_S = 60.0  # how soon a job another process stored in the database is seen
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class DatabaseJobStore(SQLAlchemyJobStore):
    """The database job store, read only when one of its jobs may be due (the scheduler looks at
    every round, and the engine's and the webhooks' wake-ups make many rounds), when this process
    changed it, and every RECHECK_S for jobs another process stored."""

    def __init__(self, clock: Clock, engine: Engine) -> None:
        # its own MetaData: the table is declared on Base in models.py
        super().__init__(engine=engine, tablename=JOBS_TABLE, metadata=MetaData())
        self._clock = clock
        self._next: datetime | None = None
        self._read_at: float | None = None  # clock time of the last read; None: read at the next look

    def _fresh(self, now: datetime) -> bool:
        return (self._read_at is not None and 0 <= self._clock.time() - self._read_at < RECHECK_S
                and (self._next is None or self._next > now))

    def get_due_jobs(self, now: datetime) -> list[Job]:
        if self._fresh(now):
            return []
        jobs = super().get_due_jobs(now)
        self._read_at = None  # what is due now gets a new time: read the next one afresh
        return jobs

    def get_next_run_time(self) -> datetime | None:
        if not self._fresh(self._clock.now()):
            self._next = super().get_next_run_time()
            self._read_at = self._clock.time()
        return self._next

    def add_job(self, job: Job) -> None:
        self._read_at = None
        super().add_job(job)

    def update_job(self, job: Job) -> None:
        self._read_at = None
        super().update_job(job)

    def remove_job(self, job_id: str) -> None:
        self._read_at = None
        super().remove_job(job_id)

    def remove_all_jobs(self) -> None:
        self._read_at = None
        super().remove_all_jobs()

    def shutdown(self) -> None:
        """Nothing: the engine is the daemon's, which disposes of it last (APScheduler's would now)."""


class Scheduler(BaseScheduler):
    """APScheduler driven by a Clock; `every` adds a built-in job, `run_soon` brings one forward."""

    def __init__(self, clock: Clock, engine: Engine | None = None) -> None:
        self.clock = clock
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._ran: dict[str, float] = {}  # job id -> clock time its last run ended
        self._ran_changed = threading.Condition()
        stores: dict[str, Any] = {"local": MemoryJobStore()}
        if engine is not None:
            stores["default"] = DatabaseJobStore(clock, engine)
        super().__init__(timezone=UTC, jobstores=stores, executors={"default": DebugExecutor()},
                         job_defaults=JOB_DEFAULTS)
        self.add_listener(self._after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    # ---- jobs -----------------------------------------------------------------------------------
    def every(self, job_id: str, seconds: float, func: Callable[[], float | None]) -> Job:
        """A built-in job: `func` now and every `seconds` after (or sooner, if it returns less)."""
        now = self.clock.now()
        trigger = IntervalTrigger(seconds=seconds, start_date=now, timezone=UTC)
        return self.add_job(func, trigger, id=job_id, name=job_id, jobstore="local", replace_existing=True,
                            next_run_time=now)

    def add_job(self, func: Any, trigger: Any = None, args: Any = None, kwargs: Any = None, id: Any = None,
                name: Any = None, misfire_grace_time: Any = undefined, coalesce: Any = undefined,
                max_instances: Any = undefined, next_run_time: Any = undefined, jobstore: str = "default",
                executor: str = "default", replace_existing: bool = False, **trigger_args: Any) -> Job:
        """As APScheduler's, but a job's first run time comes from the Clock, not the wall clock."""
        if trigger in (None, "date") and "run_date" not in trigger_args:
            trigger, trigger_args = "date", {**trigger_args, "run_date": self.clock.now()}  # "now" is the Clock's
        if next_run_time is undefined:
            made = self._create_trigger(trigger, trigger_args)
            trigger, trigger_args = made, {}
            next_run_time = made.get_next_fire_time(None, self.clock.now())
        return super().add_job(func, trigger, args, kwargs, id, name, misfire_grace_time, coalesce, max_instances,
                               next_run_time, jobstore, executor, replace_existing, **trigger_args)

    def run_soon(self, job_id: str) -> None:
        """Bring a job forward to now (a wake-up: what it looks after has changed)."""
        job = self.get_job(job_id)
        if job is not None and self.state != STATE_STOPPED:
            self.modify_job(job_id, job._jobstore_alias, next_run_time=self.clock.now())

    def last_run(self, job_id: str) -> float | None:
        """The clock time the job's last run ended, None if it has not run."""
        with self._ran_changed:
            return self._ran.get(job_id)

    def wait_ran(self, job_id: str, since: float, timeout: float) -> bool:
        """Wait up to `timeout` real seconds until the job ran and ended at clock time `since` or
        later; True if it did (a test's event to wait for instead of a stretch of time)."""
        with self._ran_changed:
            return self._ran_changed.wait_for(lambda: self._ran.get(job_id, -1.0) >= since, timeout)

    def _after_run(self, event: JobExecutionEvent) -> None:
        with self._ran_changed:
            self._ran[event.job_id] = self.clock.time()
            self._ran_changed.notify_all()
        again = event.retval if event.code == EVENT_JOB_EXECUTED else None
        if isinstance(again, (int, float)) and not isinstance(again, bool):
            job = self.get_job(event.job_id)
            soon = self.clock.now() + timedelta(seconds=max(0.0, again))
            if job is not None and job.next_run_time is not None and soon < job.next_run_time:
                self.modify_job(job.id, job._jobstore_alias, next_run_time=soon)

    # ---- the loop -------------------------------------------------------------------------------
    def start(self, paused: bool = False) -> None:
        self._event.clear()
        super().start(paused)
        self._thread = threading.Thread(target=self._main_loop, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop after the job running now, if any."""
        if self.state == STATE_STOPPED:
            return
        super().shutdown(wait)
        self._event.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def wakeup(self) -> None:
        self._event.set()

    def _main_loop(self) -> None:
        wait: float = TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            self.clock.wait(self._event, wait)
            self._event.clear()
            found = self._process_jobs()
            wait = TIMEOUT_MAX if found is None else found

    def _process_jobs(self) -> float | None:
        """Run what is due by the Clock, then say how long until the next job (None: none).

        The due jobs are rescheduled under the job stores' lock and run after it is released, so a
        thread bringing a job forward (`run_soon`) never waits for a running job."""
        if self.state == STATE_PAUSED:
            return None
        now = self.clock.now()
        self._after_backward_jump(now)
        due: list[tuple[Job, list[datetime]]] = []
        with self._jobstores_lock:
            for alias, store in self._jobstores.items():
                try:
                    jobs = store.get_due_jobs(now)
                except Exception:
                    log.exception("job store %s could not be read; tried again in %ss", alias,
                                  self.jobstore_retry_interval)
                    continue
                for job in jobs:
                    # coalesced: one run however late, and the next time is the trigger's first
                    # after now (not every missed one counted out: the clock may have jumped days)
                    due.append((job, [job.next_run_time]))
                    following = job.trigger.get_next_fire_time(None, now)
                    if following is not None and following <= now:
                        following = job.trigger.get_next_fire_time(following, now)
                    if following:
                        job._modify(next_run_time=following)
                        store.update_job(job)
                    else:
                        self.remove_job(job.id, alias)
        for job, run_times in due:
            try:
                self._lookup_executor(job.executor).submit_job(job, run_times)
            except MaxInstancesReachedError:
                log.warning("job %s is still running: this run is skipped", job.id)
            except Exception:
                log.exception("job %s could not be run", job.id)
        return self._next_wait()

    def _after_backward_jump(self, now: datetime) -> None:
        """A built-in job due further ahead than its interval: the clock went back (NTP after a
        boot without a real-time clock); it runs now rather than stall for the size of the jump."""
        for job in self.get_jobs("local"):
            trigger = job.trigger
            if (isinstance(trigger, IntervalTrigger) and job.next_run_time is not None
                    and (job.next_run_time - now).total_seconds() > trigger.interval_length):
                self.modify_job(job.id, "local", next_run_time=now,
                                trigger=IntervalTrigger(seconds=trigger.interval_length, start_date=now, timezone=UTC))

    def _next_wait(self) -> float | None:
        nearest: datetime | None = None
        with self._jobstores_lock:
            for alias, store in self._jobstores.items():
                try:
                    when = store.get_next_run_time()
                except Exception:
                    log.exception("job store %s could not be read", alias)
                    when = self.clock.now() + timedelta(seconds=self.jobstore_retry_interval)
                if when is not None and (nearest is None or when < nearest):
                    nearest = when
        if self.state == STATE_PAUSED:
            return None
        longest = RECHECK_S if "default" in self._jobstores else TIMEOUT_MAX  # another process's jobs
        if nearest is None:
            return longest
        return min(max(0.0, nearest.timestamp() - self.clock.time()), longest)
