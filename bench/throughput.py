"""End-to-end send throughput, modem utilisation and enqueue-to-modem latency (issue 3).

The gateway side is the daemon itself (gateway/daemon.py `Daemon`, default config): a SQLite file in a
temp dir (WAL, synchronous=FULL), Queue, Engine with sticky routing, the consent check before each
send, one ModemWorker + ModemSupervisor per modem, the inbound pipeline, the webhooks and contact
listeners hearing every status change; limits off, web server off. The
virtual modems run in a child process per phase (`python -m modem.virtual N`), so they don't compete
for this process's GIL. Status reports come back 1 s after each part (the simulator's default), so
their +CDS handling and database updates are part of the load.

Phases, each on fresh modems and a fresh database:
  (a) zero-latency modems, 1 then 4: N messages queued first, then the engine is started; wall time
      from Engine.start() until the last message is `sent`.  -> msg_per_s_1_modem, msg_per_s_4_modems;
      the gateway process's CPU time (all threads, user + system) per message, counted until the
      last is `sent` -> cpu_ms_per_msg_*; and until the last status report is stored, so each
      message's whole cost is counted however fast the run -> cpu_ms_per_msg_reported_*
  (b) modems that take 0.5 s per AT+CMGS (`--send-delay 0.5`: the answer to the PDU comes 0.5 s after
      it; every other command answers at once, as on a real modem), 1 then 4, same procedure.
      utilisation = modem busy time / (modems x wall), with busy time taken from the virtual modems'
      own record file: for each part it accepted, from the moment its PDU arrived to the moment the
      answer was due (0.5 s plus the modem's own handling of the PDU); the host's reaction to an
      answer, its commit and the AT+CMGS/prompt exchange all count as idle (`utilisation`). The
      same with busy time from ModemWorker.busy_seconds (time inside the host's AT+CMGS exchange)
      as `utilisation_worker_*`.
      speedup_4_modems = msg/s with 4 modems / msg/s with 1, both from this run.
  (c) one zero-latency modem, idle: one message at a time; the time from Queue.enqueue() returning to
      the virtual modem accepting the PDU (its record `epoch`, same wall clock, 1 ms resolution), so
      it covers wake-up, claim, the `submitting` commit, AT+CMGS, the prompt and the PDU write.

    .venv/bin/python bench/throughput.py [--messages 1000] [--slow-messages 60] [--samples 200]
        [--database postgresql://user@host/db] [--gaps]

`--gaps`: phase (b) alone, each worker's time between the modem's answer and its next AT+CMGS split
into the claim, the send-time check, the `submitting` commit and its hooks (bench/send_gaps.py).

With `--database` the gateway stores on that PostgreSQL server instead: each phase on a fresh
database created there (and dropped after), the URL's own database used only to create it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from _common import emit, percentile, rss_mb, start_simulator

from gateway.core.config import from_dict
from gateway.core.config_sections import ModemSection
from gateway.daemon import Daemon
from gateway.outbound.limits import Limits
from gateway.outbound.models import MessageStatus

SEND_DELAY = 0.5


class Gateway:
    """The daemon itself (gateway/daemon.py: its composition, consent check, webhooks and contact
    listeners included) on the simulator's ports, limits off, web server off."""

    def __init__(self, directory: str, ports: dict[str, str], database: str | None = None) -> None:
        config = from_dict({"gateway": {"data_dir": directory}, **({"database": {"url": database}} if database else {})})
        self.daemon = Daemon(config)
        no_caps = Limits()  # 0: no cap
        self.daemon.attach_modems([ModemSection(name=name, port=port, limits=no_caps) for name, port in ports.items()])
        self.queue = self.daemon.queue
        self.engine = self.daemon.engine
        self.supervisors = self.daemon.supervisors
        self.sent = 0
        self.reported = 0
        self.all_sent = threading.Event()
        self.all_reported = threading.Event()
        self.expect = 0
        self.queue.status_listeners.append(self._on_status)

    def _on_status(self, message_id: int, status: str) -> None:
        if status == MessageStatus.SENT:
            self.sent += 1
            if self.sent >= self.expect:
                self.all_sent.set()
        elif status in MessageStatus.FINAL:  # its status report stored (the network may fail one)
            self.reported += 1
            if self.reported >= self.expect:
                self.all_reported.set()

    def start_modems(self) -> None:
        for supervisor in self.supervisors:
            supervisor.start()
        if not self.daemon.wait_ready(30):
            raise RuntimeError(", ".join(f"{s.name}: {s.state.value} {s.reason}" for s in self.supervisors))

    def stop(self) -> None:
        self.daemon.stop()


def recipient(i: int) -> str:
    return f"+4477009{10000 + i % 80000:05d}"  # never a virtual SIM's own number, never ...9999/0000


@contextmanager
def fresh_database(server: str | None) -> Iterator[str | None]:
    """A new database on the PostgreSQL server of URL `server` (its URL), dropped afterwards; None
    (the SQLite file in the data folder) without one."""
    if server is None:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg")
    name = f"gsmgw_bench_{os.getpid()}_{time.monotonic_ns()}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_batch(modems: int, messages: int, *, send_delay: float, database: str | None = None) -> dict:
    """Queue `messages`, start the engine, time until all are sent."""
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-") as tmp, fresh_database(database) as url:
        sim = start_simulator(modems, tmp, send_delay=send_delay, report_delay=1.0)
        gateway = Gateway(tmp, sim.ports, url)
        try:
            gateway.start_modems()
            for i in range(messages):
                gateway.queue.enqueue(recipient(i), f"Your code is {i:06d}")
            gateway.expect = messages
            start_wall, started, cpu_before = time.time(), time.perf_counter(), os.times()
            gateway.daemon.start_engine()
            if not gateway.all_sent.wait(600):
                raise RuntimeError(f"only {gateway.sent} of {messages} sent")
            wall = time.perf_counter() - started
            cpu_after = os.times()
            cpu = cpu_after.user - cpu_before.user + cpu_after.system - cpu_before.system
            end_wall = time.time()
            busy_worker = sum(w.busy_seconds for w in gateway.engine.workers.values())
            if not gateway.all_reported.wait(60):
                raise RuntimeError(f"only {gateway.reported} of {messages} reported: {gateway.queue.depth()}")
            cpu_reported = os.times()
            cpu_all = cpu_reported.user - cpu_before.user + cpu_reported.system - cpu_before.system
            rss = rss_mb()
        finally:
            gateway.stop()
            sim.stop()
        with open(sim.record) as f:
            entries = [json.loads(line) for line in f]
        accepted = [e for e in entries if start_wall <= e["epoch"] <= end_wall + 0.001]
        per_modem = {m: sum(1 for e in accepted if e["modem"] == m) for m in sim.ports}
    return {"modems": modems, "messages": messages, "seconds": wall, "msg_per_s": messages / wall,
            "cpu_ms_per_msg": cpu / messages * 1000, "cpu_ms_per_msg_reported": cpu_all / messages * 1000,
            "busy_record": sum(e["answer_at"] - e["received"] for e in accepted),
            "busy_worker": busy_worker, "per_modem": per_modem,
            "rss_mb": rss}


def latency(samples: int, database: str | None = None) -> dict:
    """Enqueue one message on an idle gateway; time until the modem accepted its PDU."""
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-") as tmp, fresh_database(database) as url:
        sim = start_simulator(1, tmp, report_delay=1.0)
        gateway = Gateway(tmp, sim.ports, url)
        delays: list[float] = []
        try:
            gateway.start_modems()
            gateway.daemon.start_engine()
            time.sleep(0.5)
            record = open(sim.record)
            record.read()
            for i in range(samples + 1):
                gateway.expect = gateway.sent + 1
                gateway.all_sent.clear()
                message = gateway.queue.enqueue(recipient(i), f"Your code is {i:06d}")
                enqueued = time.time()
                if not gateway.all_sent.wait(10):
                    raise RuntimeError(f"message {message.id} not sent")
                line = ""
                while not line.endswith("\n"):
                    line += record.readline()
                if i:  # the first one is a warm-up
                    delays.append(json.loads(line)["epoch"] - enqueued)
                time.sleep(0.05 + (i % 7) * 0.01)  # let the worker go back to waiting
            record.close()
        finally:
            gateway.stop()
            sim.stop()
    return {"p50": percentile(delays, 50), "p99": percentile(delays, 99), "max": max(delays)}


def gap_figures(per_modem: int, database: str | None) -> dict:
    """Phase (b), 1 and 4 modems, with each worker's steps timed between two sends."""
    from send_gaps import SendGaps

    figures: dict = {"database": "postgresql" if database else "sqlite", "slow_messages_per_modem": per_modem}
    for modems in (1, 4):
        gaps = SendGaps()
        gaps.install()
        try:
            run = run_batch(modems, modems * per_modem, send_delay=SEND_DELAY, database=database)
        finally:
            gaps.uninstall()
        figures[f"{modems}_modem{'s' if modems > 1 else ''}"] = {
            "utilisation": round(run["busy_record"] / (modems * run["seconds"]), 4), **gaps.figures()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="per phase (a) run")
    parser.add_argument("--slow-messages", type=int, default=60, help="per modem in phase (b)")
    parser.add_argument("--samples", type=int, default=200, help="latency samples in phase (c)")
    parser.add_argument("--database", help="a PostgreSQL server's URL (postgresql://user@host/db): each phase "
                        "on a fresh database there instead of a SQLite file")
    parser.add_argument("--gaps", action="store_true", help="phase (b) only, instrumented: where each modem's "
                        "time between an answer and the next AT+CMGS goes (bench/send_gaps.py)")
    args = parser.parse_args()
    db = args.database
    if args.gaps:
        emit(gap_figures(args.slow_messages, db))
        return

    fast1 = run_batch(1, args.messages, send_delay=0.0, database=db)
    print(f"(a) 1 modem, zero latency: {fast1['msg_per_s']:.1f} msg/s", flush=True)
    fast4 = run_batch(4, args.messages, send_delay=0.0, database=db)
    print(f"(a) 4 modems, zero latency: {fast4['msg_per_s']:.1f} msg/s {fast4['per_modem']}", flush=True)
    slow1 = run_batch(1, args.slow_messages, send_delay=SEND_DELAY, database=db)
    print(f"(b) 1 modem, 0.5 s/AT+CMGS: {slow1['msg_per_s']:.3f} msg/s", flush=True)
    slow4 = run_batch(4, 4 * args.slow_messages, send_delay=SEND_DELAY, database=db)
    print(f"(b) 4 modems, 0.5 s/AT+CMGS: {slow4['msg_per_s']:.3f} msg/s {slow4['per_modem']}", flush=True)
    lat = latency(args.samples, db)
    print(f"(c) enqueue -> PDU at modem: p50 {lat['p50'] * 1000:.1f} ms, p99 {lat['p99'] * 1000:.1f} ms",
          flush=True)

    def util(run: dict, key: str) -> float:
        return round(run[key] / (run["modems"] * run["seconds"]), 4)

    emit({
        "database": "postgresql" if db else "sqlite",
        "messages": args.messages, "msg_per_s_1_modem": round(fast1["msg_per_s"], 1),
        "msg_per_s_4_modems": round(fast4["msg_per_s"], 1),
        "seconds_1_modem": round(fast1["seconds"], 3), "seconds_4_modems": round(fast4["seconds"], 3),
        "cpu_ms_per_msg_1_modem": round(fast1["cpu_ms_per_msg"], 2),
        "cpu_ms_per_msg_4_modems": round(fast4["cpu_ms_per_msg"], 2),
        "cpu_ms_per_msg_reported_1_modem": round(fast1["cpu_ms_per_msg_reported"], 2),
        "cpu_ms_per_msg_reported_4_modems": round(fast4["cpu_ms_per_msg_reported"], 2),
        "slow_messages_per_modem": args.slow_messages, "send_delay_s": SEND_DELAY,
        "slow_msg_per_s_1_modem": round(slow1["msg_per_s"], 4),
        "slow_msg_per_s_4_modems": round(slow4["msg_per_s"], 4),
        "slow_seconds_1_modem": round(slow1["seconds"], 3), "slow_seconds_4_modems": round(slow4["seconds"], 3),
        "speedup_4_modems": round(slow4["msg_per_s"] / slow1["msg_per_s"], 3),
        "utilisation": util(slow4, "busy_record"),
        "utilisation_1_modem": util(slow1, "busy_record"),
        "utilisation_4_modems": util(slow4, "busy_record"),
        "utilisation_worker_1_modem": util(slow1, "busy_worker"),
        "utilisation_worker_4_modems": util(slow4, "busy_worker"),
        "latency_samples": args.samples,
        "enqueue_to_at_p50_ms": round(lat["p50"] * 1000, 1),
        "enqueue_to_at_p99_ms": round(lat["p99"] * 1000, 1),
        "enqueue_to_at_max_ms": round(lat["max"] * 1000, 1),
        "rss_mb": max(fast1["rss_mb"], fast4["rss_mb"], slow1["rss_mb"], slow4["rss_mb"]),
    })


if __name__ == "__main__":
    main()
