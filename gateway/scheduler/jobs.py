"""The daemon's built-in jobs, each a one-pass function the scheduler runs (see service.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine

from gateway.core.clock import Clock
from gateway.store.retention import RetentionPolicy, prune_batch

log = logging.getLogger("gsmgw.scheduler")
SWEEP = "outbound.sweep"
RETENTION = "store.retention"
BATCHES_PER_RUN = 10  # then the scheduler's other jobs get their turn before pruning goes on
AGAIN_S = 1.0  # pruning not finished: the next run comes this soon


def pruning(engine: Engine, clock: Clock, policy: RetentionPolicy, batch: int) -> Callable[[], float | None]:
    """The retention job: a few small batches, one transaction each, at the Clock's now; if there
    is more, it asks to run again in a second (other jobs run between)."""
    def run() -> float | None:
        removed = 0
        for _ in range(BATCHES_PER_RUN):
            with engine.begin() as conn:
                done = prune_batch(conn, clock.now(), policy, batch)
            removed += done
            if done == 0:
                if removed:
                    log.info("retention: %d rows pruned or redacted", removed)
                return None
        log.info("retention: %d rows pruned or redacted, more to go", removed)
        return AGAIN_S
    return run
