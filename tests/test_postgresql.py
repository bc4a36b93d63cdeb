"""What only PostgreSQL has: claims that pass over another gateway's locked rows, hooks in
savepoints, workers woken by LISTEN/NOTIFY, two gateways sharing one queue.

These run on the suite's PostgreSQL server in both runs (SQLite and PostgreSQL): without the server
binaries they fail, never skip."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from gateway.core.config import Config
from gateway.core.hooks import run_in_transaction
from gateway.outbound import transitions
from gateway.outbound.models import MessageEvent, MessageStatus, PartStatus
from gateway.outbound.queue import Queue
from gateway.settings import store
from gateway.settings.effective import Effective
from gateway.store import db, notify

from .daemon_helpers import build_daemon
from .pg_trace import pg, statements, traced  # noqa: F401 (pg: a fixture)


@pytest.fixture
def pg_queue(pg, clock):
    made = Queue(db.sessions(pg), clock, default_region="GB")
    yield made
    made.group.close()


def test_a_claim_passes_over_the_message_another_gateway_is_claiming(pg, pg_queue, clock):
    first = pg_queue.enqueue("+447700900001", "first")
    second = pg_queue.enqueue("+447700900002", "second")
    with pg.connect() as holder, pg.connect() as other:
        taken = transitions.claim(holder, "a1", lambda m: True, clock.now())  # its transaction still open
        assert taken is not None and taken.id == first.id
        other.execute(text("SET lock_timeout = '3s'"))  # waiting on the holder's row would fail here
        passed_over = transitions.claim(other, "b1", lambda m: True, clock.now())
        assert passed_over is not None and passed_over.id == second.id
        other.commit()
        holder.commit()


def test_a_failing_hook_leaves_the_transaction_usable_and_still_fails_the_change(pg):
    def broken(conn, *_):
        conn.execute(text("SELECT no_such_column FROM messages"))

    with pg.connect() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE kept (n integer)"))
        conn.execute(text("INSERT INTO kept VALUES (1)"))
        with pytest.raises(Exception, match="no_such_column"):
            run_in_transaction([broken], conn)  # the error still reaches the caller
        conn.execute(text("INSERT INTO kept VALUES (2)"))  # not "current transaction is aborted"
        assert conn.execute(text("SELECT count(*) FROM kept")).scalar_one() == 2


def test_the_last_part_sent_costs_no_savepoint_and_one_statement_with_its_events(pg, pg_queue, tmp_path):
    """The send path's round trips: the status hooks run in the group commit without a savepoint
    (a failing unit of work rolls the whole transaction back there), and the part's and the
    message's `sent` go with both their events in one statement."""
    heard = []
    pg_queue.status_hooks.append(lambda conn, message_id, status: heard.append(status))
    message = pg_queue.enqueue("+447700900001", "hello")
    claimed = pg_queue.claim("a1")
    part_id = claimed.part_ids[1]
    assert pg_queue.part_submitting(part_id, "a1") is None
    lines = traced(pg_queue.group._conn, tmp_path, lambda: pg_queue.part_sent(part_id, 7, last=True))
    assert heard[-1] == MessageStatus.SENT
    assert not [line for line in lines if "SAVEPOINT" in line]
    sent = [line for line in statements(lines) if "early_reports" not in line]  # but the modem's first look
    assert len(sent) == 3 and "WITH sent_part AS" in sent[1], lines  # BEGIN, the statement, COMMIT
    with pg.connect() as conn:
        stored = conn.execute(select(MessageEvent.status, MessageEvent.part_seq)
                              .where(MessageEvent.message_id == message.id).order_by(MessageEvent.id)).all()
    assert [tuple(row) for row in stored][-2:] == [(PartStatus.SENT, 1), (MessageStatus.SENT, None)]


def test_a_message_queued_by_another_process_wakes_the_listener_at_once(pg, pg_queue):
    woken = threading.Event()
    listener = notify.listener(pg, {notify.QUEUE: woken.set})
    assert listener is not None
    listener.start()
    try:
        assert listener.listening.wait(10)
        woken.clear()  # it wakes once on starting, for what was queued before
        pg_queue.enqueue("+447700900001", "hello")
        assert woken.wait(5), "no notification reached the listener"
    finally:
        listener.stop()


def test_the_listener_takes_up_what_it_missed_before_it_says_it_listens(pg):
    """A follower skips its reads while `listening` is set; a change made while the listener was
    not listening must be taken up (its callback) before that, or a read between the two is skipped."""
    seen: list[bool] = []
    listener = notify.listener(pg, {notify.SETTINGS: lambda: seen.append(listener.listening.is_set())})
    assert listener is not None
    listener.start()
    try:
        assert listener.listening.wait(10)
        assert seen == [False]
    finally:
        listener.stop()


def test_settings_followed_by_the_listener_are_read_again_only_after_a_change(pg, clock):
    """A gateway's Effective settings, following the listener, do not read the settings' version
    before every send: a change made by another process reaches them once its notification is
    heard, and a change made in their own process at once."""
    effective = Effective(Config(), db.sessions(pg))
    heard, deaf = threading.Event(), threading.Event()

    def changed() -> None:
        if not deaf.is_set():
            effective.changed()
        heard.set()

    listener = notify.listener(pg, {notify.SETTINGS: changed})
    assert listener is not None
    effective.follow(listener.listening)
    reads: list[str] = []
    event.listen(pg, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: reads.append(statement) if "settings_version" in statement else None)
    kept_read = effective.snapshot._version_now  # the version's own read, on a DBAPI connection it keeps

    def version_read():
        reads.append("the kept version read")
        return kept_read()

    effective.snapshot._version_now = version_read
    listener.start()
    try:
        assert listener.listening.wait(10) and heard.wait(10)  # called once on starting
        assert effective.rules().frequency_cap == Config().consent.frequency_cap
        reads.clear()
        for _ in range(5):
            effective.rules(), effective.sim_limits(), effective.version()
        assert reads == []
        heard.clear()
        url = pg.url.render_as_string(hide_password=False)
        subprocess.run([sys.executable, "-c", "import sys; from gateway.core.clock import Clock; "
                        "from gateway.core.config import Config; from gateway.settings import store; "
                        "from gateway.store import db; "
                        "store.change(db.sessions(db.make_engine(sys.argv[1])), Clock(), Config(), "
                        "{'consent.frequency_cap': '1'}, actor='alice')", url], check=True, timeout=60)
        assert heard.wait(10), "the other process's change was not heard"
        assert effective.rules().frequency_cap == 1 and reads
        reads.clear()
        assert effective.rules().frequency_cap == 1 and reads == []
        deaf.set()  # from here the notification is not passed on: its own process's change counts alone
        store.change(db.sessions(pg), clock, Config(), {"consent.frequency_cap": "2"}, actor="bob")
        assert effective.rules().frequency_cap == 2  # its own process's change: not waiting to hear it
    finally:
        listener.stop()
        effective.snapshot._version_now = kept_read
        effective.close()


def test_no_listener_on_sqlite(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        assert notify.listener(engine, {notify.QUEUE: lambda: None}) is None
    finally:
        engine.dispose()


def test_two_gateways_on_one_database_send_each_message_exactly_once(postgres, tmp_path, clock, sim_options):
    from .modem_helpers import virtual_modems, wait_until

    url = postgres.create()
    count = 24
    unlimited = {"per_minute": 1000, "per_hour": 1000, "per_day": 1000, "min_gap_s": 0.0}
    with virtual_modems(tmp_path / "ports", count=2) as sim:
        names = sorted(sim.ports)
        daemons = [build_daemon(tmp_path / f"gw{i}", clock, 0, database={"url": url},
                                modems=[{"name": f"gw{i}-{name}", "port": sim.ports[name].path, "limits": unlimited}])
                   for i, name in enumerate(names)]
        try:
            for daemon in daemons:
                daemon.start()
            for daemon in daemons:
                assert daemon.wait_ready(20), daemon.status_line()
            for i in range(count):
                daemons[i % 2].queue.enqueue(f"+4477009{i:05d}", f"message {i}")
            workers = [f"{daemon.supervisors[0].name}-worker" for daemon in daemons]

            def all_sent_and_both_idle() -> bool:
                """Nothing left to claim, and each worker in a wait (its sends answered, so every
                PDU it wrote, a second one of any message too, is in the network's record)."""
                depth = daemons[0].queue.depth()
                left = depth.get(MessageStatus.QUEUED, 0) + depth.get(MessageStatus.SENDING, 0)
                return left == 0 and all(clock.waiting(worker) is not None for worker in workers)

            wait_until(all_sent_and_both_idle, 60, "every message sent and both workers idle")
            texts = [r["text"] for r in sim.network.record.submitted]
            assert sorted(texts) == sorted(f"message {i}" for i in range(count))
            engine = daemons[0].db
            with engine.connect() as conn:
                submitting = conn.execute(select(func.count()).select_from(MessageEvent)
                                          .where(MessageEvent.status == PartStatus.SUBMITTING)).scalar_one()
                by_sim = dict(conn.execute(text("SELECT sim, count(*) FROM messages GROUP BY sim")).all())
            assert submitting == count
            assert set(by_sim) == {f"gw{i}-{name}" for i, name in enumerate(names)}  # both gateways sent
        finally:
            for daemon in daemons:
                daemon.stop()
            postgres.drop(url)


def test_the_suite_stores_on_the_database_its_mode_names(database, daemon_factory):
    """GSMGW_TEST_DATABASE=postgresql puts the `database` fixture and the daemons on PostgreSQL."""
    from . import postgres_server

    expected = "postgresql" if postgres_server.wanted() else "sqlite"
    assert database.dialect.name == expected
    assert daemon_factory(1).db.dialect.name == expected
