"""The `submitting` commit alone: the part that goes next marked `submitting`, carrying the part
the modem answered before as `sent` (its message `sent` with it), with the daemon's status hooks
(webhook outbox, contact flag, metrics). Wall and CPU time per commit, one thread, no modem: what
the modem waits for between its prompt and the PDU, without the machine's other threads in it.

    .venv/bin/python bench/submitting.py [--commits 400] [--database postgresql://user@host/db]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import emit
from throughput import fresh_database

from gateway.core.clock import Clock
from gateway.daemon import with_status_hooks
from gateway.metrics.counters import GatewayMetrics
from gateway.outbound.claims import Accepted
from gateway.outbound.queue import Queue
from gateway.store import db


def run(commits: int, url: str) -> dict:
    engine = db.make_engine(url)
    db.upgrade(engine)
    clock = Clock()
    queue = Queue(db.sessions(engine), clock, default_region="GB")
    with_status_hooks(queue, clock)
    GatewayMetrics(queue).attach(queue=queue)
    queue.enqueue_many([{"to": f"+4477009{i % 100000:05d}", "text": f"text {i}"} for i in range(commits + 1)],
                       source="bench")
    walls, cpus, answered = [], [], None
    try:
        for i in range(commits + 1):
            claimed = queue.claim("a1")
            assert claimed is not None
            wall, cpu = time.perf_counter(), time.process_time()
            assert queue.part_submitting(claimed.part_ids[1], "a1", after=answered) is None
            if answered is not None:  # the first commit carries nothing
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            answered = Accepted(claimed.part_ids[1], i % 256, True, claimed.id)
    finally:
        queue.group.close()
        engine.dispose()
    return {"commits": commits, "submitting_mean_ms": round(1000 * statistics.mean(walls), 3),
            "submitting_p50_ms": round(1000 * statistics.median(walls), 3),
            "submitting_cpu_ms": round(1000 * statistics.mean(cpus), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--database", help="a PostgreSQL server's URL: a fresh database is made there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-") as tmp, fresh_database(args.database) as url:
        figures = run(args.commits, url or f"sqlite:///{tmp}/gsmgw.db")
    emit({"database": "postgresql" if args.database else "sqlite", **figures})


if __name__ == "__main__":
    main()
