"""REST API throughput: single-message POSTs from 4 concurrent clients, and one 1,000-message bulk POST.

The server is the real one (create_app served by waitress, 8 threads, SQLite in WAL with
synchronous=FULL, or with `--database` a fresh database on that PostgreSQL server) in a child process, so the clients' CPU is not counted against it. No modem
workers run: this measures the way in (validate, store, answer), not sending. Every message goes to
a different number, as a shop's traffic does.

    .venv/bin/python bench/api.py [--requests 3000] [--clients 4] [--database postgresql://user@host/db]

Last line: {"req_per_s", "p50_ms", "p99_ms", "bulk_1000_s", ...}
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _common import ROOT, emit, free_port

TO = "+447700900123"


def serve(url: str, port: int) -> None:
    """The child: the app over waitress on 127.0.0.1:port, until killed."""
    import waitress

    from gateway.consent.optin import Audience
    from gateway.core.clock import Clock
    from gateway.core.config import Config
    from gateway.outbound.queue import Queue
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks
    from web import create_app
    from web.context import WebContext

    engine = db.make_engine(url)
    sessions = db.sessions(engine)
    clock = Clock()
    queue = Queue(sessions, clock)
    webhooks = Webhooks(sessions, clock)
    audience = Audience(sessions, clock, queue)
    webhooks.attach(queue, audience=audience)
    context = WebContext(queue=queue, sessions=sessions, clock=clock, config=Config(), webhooks=webhooks,
                         audience=audience)
    waitress.serve(create_app(context), host="127.0.0.1", port=port, threads=8, ident="gsmgw", _quiet=True)


def recipient(i: int) -> str:
    return f"+4477009{10000 + i % 90000:05d}"


def request(conn: http.client.HTTPConnection, method: str, path: str, body: object, token: str) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="single-message POSTs in all")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database", help="a PostgreSQL server's URL (postgresql://user@host/db): a fresh "
                        "database there instead of a SQLite file")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    from gateway.apikeys import keys
    from gateway.core.clock import Clock
    from gateway.store import db
    from throughput import fresh_database

    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-api-") as tmp, fresh_database(args.database) as pg:
        url = pg or f"sqlite:///{tmp}/gsmgw.db"
        engine = db.make_engine(url)
        db.upgrade(engine)
        token = keys.create(db.sessions(engine), Clock(), "bench", "send,read").token
        engine.dispose()
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)], cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    status, _ = request(conn, "GET", "/api/v1/health", None, token)
                    conn.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the API server did not start") from None
                    time.sleep(0.05)

            # warm-up: first requests pay for imports and caches
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(50):
                request(conn, "POST", "/api/v1/messages", {"to": TO, "text": "warm-up"}, token)
            conn.close()

            latencies: list[float] = []
            errors: list[int] = []
            lock = threading.Lock()
            per_client = args.requests // args.clients

            def client(n: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                mine, bad = [], []
                for i in range(per_client):
                    started = time.perf_counter()
                    body = {"to": recipient(n * per_client + i), "text": f"Your code is {n}{i:05d}"}
                    status, _ = request(conn, "POST", "/api/v1/messages", body, token)
                    mine.append(time.perf_counter() - started)
                    if status != 202:
                        bad.append(status)
                conn.close()
                with lock:
                    latencies.extend(mine)
                    errors.extend(bad)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started

            bulk = {"messages": [{"to": recipient(50_000 + i),
                                  "text": f"Reminder {i}: your appointment is tomorrow at 10:00"} for i in range(1000)]}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            bulk_started = time.perf_counter()
            bulk_status, bulk_body = request(conn, "POST", "/api/v1/messages", bulk, token)
            bulk_s = time.perf_counter() - bulk_started
            conn.close()
            if bulk_status != 202 or len(json.loads(bulk_body)["messages"]) != 1000:
                raise RuntimeError(f"bulk POST failed: {bulk_status} {bulk_body[:200]!r}")
        finally:
            server.terminate()
            server.wait(10)

    latencies.sort()
    emit({
        "database": "postgresql" if args.database else "sqlite",
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "bulk_1000_s": round(bulk_s, 3),
        "requests": len(latencies),
        "errors": len(errors),
        "clients": args.clients,
        "seconds": round(elapsed, 2),
    })


if __name__ == "__main__":
    main()
