"""Data at scale: what a year of a busy shop's traffic costs the gateway, on a real SQLite file.

The data is built in SQL (recursive CTEs, no Python per row): `--messages` messages (default
1,000,000) over the past year, each with its part (every tenth a two-part message) and its events
(queued, sending, sent, and delivered or failed), `--contacts` contacts (default 100,000), and a
backlog of `--deferred` marketing messages (default 50,000) deferred to the morning by quiet hours.
Then, in this process, through the real code:

- `list_p99_ms`: `GET /api/v1/messages` filtered by status, SIM and kind, first and later pages
  (Flask's test client: the app and the database, no HTTP);
- `metrics_scrape_ms`: `GET /api/v1/metrics`, the median of the scrapes (`metrics_scrape_max_ms`);
- `claim_ms`: `Queue.claim` of a due message behind the deferred backlog (median; `claim_ms_empty`
  the same before the backlog was added);
- `db_bytes_per_1000_messages`: the database file after the build (checkpointed), per 1,000 messages;
- `disk_write_bytes_per_message`: `write_bytes` of /proc/self/io over enqueue, claim, submitting and
  sent of `--sends` messages with the daemon's status hooks, the WAL checkpoint included;
- `prune_rows_per_s`: rows the retention pruning removes per second (a policy keeping half a year,
  the scheduler's batches of 500, timed for `--prune-seconds`).

    .venv/bin/python bench/scale.py [--messages 1000000] [--contacts 100000] [--deferred 50000]
                                    [--claims 200] [--list-rounds 25] [--scrapes 30]

Last line: one JSON object with the keys above and the build time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import percentile, stored_database_bench
from sqlalchemy import Engine, text

from gateway.apikeys import keys
from gateway.consent.optin import Audience
from gateway.core.clock import FakeClock
from gateway.core.config import Config
from gateway.daemon import with_status_hooks
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.store.retention import RetentionPolicy, prune_batch

NOW = datetime(2027, 1, 15, 22, 0, tzinfo=UTC)  # 22:00 in London: quiet hours
SIMS = 4
SECONDS_APART = 30  # one message every 30 s: a million is about a year


def stamp(at: datetime) -> str:
    """A time as SQLAlchemy keeps it in SQLite (naive UTC)."""
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


NUMBERS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
MESSAGES = NUMBERS + """
INSERT INTO messages (to_number, text, kind, priority, status, encoding, segments, concat_ref, sim, source,
                      attempts, last_error, created_at, not_before, sent_at, finished_at, updated_at)
SELECT printf('+4477009%05d', i % 100000),
       CASE WHEN i % 10 = 0 THEN printf('Order %d: your parcel is on its way. Track it at https://shop.example/t/%d '
                                        || 'and reply STOP to opt out of offers. Thank you for shopping with us!', i, i)
            ELSE printf('Your code is %06d. Order %d is ready to collect.', i % 999983, i) END,
       CASE WHEN i % 3 = 0 THEN 'marketing' ELSE 'transactional' END, 1 + (i % 3 = 0),
       CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 20 = 0 THEN 'sent' ELSE 'delivered' END,
       'gsm7', 1 + (i % 10 = 0), CASE WHEN i % 10 = 0 THEN i % 256 END, printf('sim%d', 1 + i % :sims), 'api',
       1, CASE WHEN i % 50 = 0 THEN 'CMS 21: short message transfer rejected' END,
       datetime(:start, printf('+%d seconds', i * :apart)), datetime(:start, printf('+%d seconds', i * :apart)),
       datetime(:start, printf('+%d seconds', i * :apart + 5)), datetime(:start, printf('+%d seconds', i * :apart + 9)),
       datetime(:start, printf('+%d seconds', i * :apart + 9))
FROM n"""
PARTS = """
INSERT INTO message_parts (message_id, seq, total, status, modem, reference, submitted_at, sent_at, report_status,
                           report_at, error)
SELECT m.id, s.seq, m.segments,
       CASE m.status WHEN 'failed' THEN 'failed' WHEN 'sent' THEN 'sent' ELSE 'delivered' END, m.sim,
       (m.id * 2 + s.seq) % 256, m.sent_at, m.sent_at, CASE WHEN m.status = 'delivered' THEN 0 END,
       CASE WHEN m.status = 'delivered' THEN m.finished_at END, m.last_error
FROM messages m JOIN (SELECT 1 AS seq UNION ALL SELECT 2) s ON s.seq <= m.segments WHERE m.id <= :count"""
EVENTS = """
INSERT INTO message_events (message_id, part_seq, status, at, detail)
SELECT m.id, NULL, CASE e.k WHEN 4 THEN m.status ELSE e.status END, m.created_at,
       CASE e.status WHEN 'sending' THEN 'on ' || m.sim END
FROM messages m JOIN (SELECT 'queued' AS status, 1 AS k UNION ALL SELECT 'sending', 2 UNION ALL SELECT 'sent', 3
                      UNION ALL SELECT 'end', 4) e
     ON e.k < 3 OR (e.k = 3 AND m.status != 'failed') OR (e.k = 4 AND m.status IN ('delivered', 'failed'))
WHERE m.id <= :count"""
CONTACTS = NUMBERS + """
INSERT INTO contacts (number, name, language, timezone, timezone_guessed, fields, source, created_at, updated_at)
SELECT printf('+447701%06d', i), printf('Customer %d', i), 'en', 'Europe/London', 1, '{}', 'import', :start, :start
FROM n"""
DEFERRED = NUMBERS + """
INSERT INTO messages (to_number, text, kind, priority, status, encoding, segments, source, attempts, created_at,
                      not_before, updated_at)
SELECT printf('+447701%06d', i), 'Winter sale: 20% off everything tomorrow. Reply STOP to opt out', 'marketing', 1,
       'queued', 'gsm7', 1, 'campaign', 1, :now, :morning, :now
FROM n"""
DEFERRED_PARTS = """
INSERT INTO message_parts (message_id, seq, total, status) SELECT id, 1, 1, 'pending' FROM messages WHERE status = 'queued'"""


@dataclass
class Store:
    engine: Engine
    path: str
    clock: FakeClock
    queue: Queue
    messages: int


def build(path: str, messages: int, contacts: int) -> Store:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    start = stamp(NOW - timedelta(seconds=messages * SECONDS_APART + 3600))
    with engine.begin() as conn:
        conn.execute(text(MESSAGES), {"count": messages, "sims": SIMS, "start": start, "apart": SECONDS_APART})
        conn.execute(text(PARTS), {"count": messages})
        conn.execute(text(EVENTS), {"count": messages})
        conn.execute(text(CONTACTS), {"count": contacts, "start": start})
    clock = FakeClock(NOW.timestamp())
    queue = Queue(db.sessions(engine), clock, default_region="GB")
    return Store(engine, path, clock, queue, messages)


def add_deferred(store: Store, count: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(DEFERRED), {"count": count, "now": stamp(NOW), "morning": stamp(NOW + timedelta(hours=10))})
        conn.execute(text(DEFERRED_PARTS))


def checkpoint(engine: Engine) -> None:
    """The WAL folded into the database file: outside any transaction (every transaction the
    engine begins is a writer's, and SQLite refuses a checkpoint inside one)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    finally:
        raw.close()


def millis(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def claim_ms(store: Store, rounds: int = 200) -> float:
    """A due message enqueued, then claimed and given back: the claim's own time, median."""
    times = []
    for i in range(rounds):
        store.queue.enqueue(f"+4477009{i % 100000:05d}", f"your code is {i:06d}")
        times.append(millis(lambda: store.queue.claim("sim1")))
    with store.engine.begin() as conn:  # out of the way of the next measure
        conn.execute(text("UPDATE messages SET status = 'sent' WHERE status = 'sending'"))
    return statistics.median(times)


def web_client(store: Store) -> tuple[Any, dict[str, str]]:
    from web import create_app
    from web.context import WebContext

    webhooks = with_status_hooks(store.queue, store.clock)
    audience = Audience(store.queue.sessions, store.clock, store.queue)
    context = WebContext(queue=store.queue, sessions=store.queue.sessions, clock=store.clock, config=Config(),
                         webhooks=webhooks, audience=audience)
    token = keys.create(store.queue.sessions, store.clock, "bench", "read").token
    return create_app(context).test_client(), {"Authorization": f"Bearer {token}"}


LISTS = ("status=delivered", "status=failed", "status=queued", "sim=sim2", "kind=marketing",
         "status=failed&sim=sim3", "status=sent&kind=marketing", "status=delivered&sim=sim1&kind=transactional")


def list_p99_ms(client: Any, headers: dict[str, str], rounds: int = 25) -> float:
    times = []
    for _ in range(rounds):
        for query in LISTS:
            cursor = None
            for _page in range(3):  # the first page and two after it
                path = f"/api/v1/messages?{query}&limit=50" + (f"&cursor={cursor}" if cursor else "")
                started = time.perf_counter()
                reply = client.get(path, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200, reply.json
                cursor = reply.json["next_cursor"]
                if cursor is None:
                    break
    return percentile(times, 99)


def scrape_ms(client: Any, headers: dict[str, str], rounds: int = 30) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        reply = client.get("/api/v1/metrics", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200
    return times


def write_bytes() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes:"))


def disk_write_bytes_per_message(store: Store, sends: int) -> float:
    """The send path of `sends` messages (enqueue, claim, submitting, sent), its writes and checkpoint."""
    checkpoint(store.engine)
    before = write_bytes()
    for i in range(sends):
        message = store.queue.enqueue(f"+4477009{i % 100000:05d}", f"your code is {i:06d}")
        claimed = store.queue.claim("sim1")
        assert claimed is not None and claimed.id == message.id
        (part_id,) = claimed.part_ids.values()
        assert store.queue.part_submitting(part_id, "sim1") is None
        store.queue.part_sent(part_id, i % 256, last=True)
    checkpoint(store.engine)
    return (write_bytes() - before) / sends


def prune_rows_per_s(store: Store, seconds: float) -> float:
    """The retention pruning's rate over the year of data: a policy keeping half a year, run in the
    scheduler's batches (one transaction each) for about `seconds`; rows deleted or blanked per second."""
    policy = RetentionPolicy(messages_days=182, events_days=30, transactional_text_days=1)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        with store.engine.begin() as conn:
            step = prune_batch(conn, NOW, policy, 500)
        done += step
        if step == 0:
            break
    return done / (time.perf_counter() - started)


def main() -> None:
    stored_database_bench(__doc__.splitlines()[0], "gsmgw-scale-",
                          "where the database goes (default: a temporary folder on disk)", options, measure)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deferred", type=int, default=50_000)
    parser.add_argument("--sends", type=int, default=500, help="messages sent for the disk-write figure")
    parser.add_argument("--claims", type=int, default=200, help="claims timed, with and without the backlog")
    parser.add_argument("--list-rounds", type=int, default=25, help="rounds of the list queries (3 pages each)")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--prune-seconds", type=float, default=10.0, help="how long the pruning is timed")


def measure(args: argparse.Namespace, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    store = build(path, args.messages, args.contacts)
    checkpoint(store.engine)
    size = os.path.getsize(path)
    build_s = time.perf_counter() - started

    empty = claim_ms(store, args.claims)
    add_deferred(store, args.deferred)
    behind = claim_ms(store, args.claims)
    client, headers = web_client(store)
    lists = list_p99_ms(client, headers, args.list_rounds)
    scrapes = scrape_ms(client, headers, args.scrapes)
    result = {
        "messages": args.messages, "contacts": args.contacts, "deferred": args.deferred,
        "list_p99_ms": round(lists, 2),
        "metrics_scrape_ms": round(statistics.median(scrapes), 2),
        "metrics_scrape_max_ms": round(max(scrapes), 2),
        "claim_ms": round(behind, 3),
        "claim_ms_empty": round(empty, 3),
        "db_bytes_per_1000_messages": round(size / (args.messages / 1000)),
        "disk_write_bytes_per_message": round(disk_write_bytes_per_message(store, args.sends)),
        "build_s": round(build_s, 1),
    }
    result["prune_rows_per_s"] = round(prune_rows_per_s(store, args.prune_seconds))  # last: it deletes
    store.engine.dispose()
    return result


if __name__ == "__main__":
    main()
