"""Crash safety: the daemon is killed with SIGKILL at random moments while sending a few hundred
messages over two virtual modems, and restarted each time. The virtual modems (in this process, so
they outlive every daemon) keep their own record of every part the network accepted and every status
report it produced; checked against it: every message is accounted for, no part went out twice,
in-doubt parts are `unknown`, and every message whose delivery reports were produced ends
`delivered` (none stays `sent`), however many came while no daemon ran."""

from __future__ import annotations

import os
import random
import signal
from collections import Counter

import pytest

from gateway.core.clock import Clock
from gateway.outbound.models import MessageStatus, PartStatus
from gateway.outbound.queue import Queue
from gateway.store import db

from .daemon_helpers import database_url, sigkill_after_progress, start_daemon, write_run_config
from .modem_helpers import virtual_modems, wait_until
from .process_helpers import stop

MESSAGES = 300
KILLS = 12


@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice(tmp_path):
    rng = random.Random(int(os.environ.get("GSMGW_CRASH_SEED", "20261123")))
    # models that keep status reports on the modem (CNMI ds=2; Huawei in "SR"): a report that comes
    # while the daemon is down waits there for the next one
    sim = virtual_modems(tmp_path / "ports", 2, latency=0.01, profile="e3131,ec25")
    config = write_run_config(tmp_path, sim.ports)
    database = db.make_engine(database_url(tmp_path / "data"))
    db.upgrade(database)
    queue = Queue(db.sessions(database), Clock())
    texts = {}
    for i in range(MESSAGES):
        text = f"message {i} " + ("long " * 40 if i % 10 == 0 else "")  # every tenth has two parts
        texts[queue.enqueue(f"+447911{i + 1:06d}", text, source="test").id] = text

    def finished() -> int:
        depth = queue.depth()
        return sum(v for k, v in depth.items() if k not in (MessageStatus.QUEUED, MessageStatus.SENDING))

    log = open(tmp_path / "daemon.log", "ab")
    try:
        kills = 0
        while kills < KILLS and finished() < MESSAGES:
            daemon = start_daemon(config, log)
            sigkill_after_progress(daemon, finished, rng)
            kills += 1
        log_path = tmp_path / "daemon.log"
        started = log_path.read_text(errors="replace").count("gsmgw is running")
        daemon = start_daemon(config, log)
        try:
            wait_until(lambda: finished() == MESSAGES, 120, "every message to be finished")
            # every recipient's SMSC reports delivery: nothing may stay `sent`, whichever daemon's
            # lifetime (or the gap between two) its report came in
            wait_until(lambda: not queue.depth().get(MessageStatus.SENT), 60, "every status report applied")
            # the graceful stop is tested on a running daemon (a SIGTERM while Python still imports
            # ends the process before it has anything to stop)
            wait_until(lambda: log_path.read_text(errors="replace").count("gsmgw is running") > started, 30,
                       "the daemon to be up")
        finally:
            code = stop(daemon, signal.SIGTERM)
        assert code == 0  # a graceful stop
    finally:
        log.close()
        sim.close()

    record = sim.network.record.submitted
    sent_parts = Counter((r["recipient"][-9:], r["text"], r["concat_seq"]) for r in record)
    twice = [key for key, count in sent_parts.items() if count > 1]
    assert not twice, f"parts submitted twice: {twice[:5]}"

    by_status = Counter()
    for message_id in texts:
        message = queue.get(message_id)
        by_status[message.status] += 1
        submissions = [n for (number, _, _), n in sent_parts.items() if message.to_number.endswith(number)]
        if message.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
            assert len(submissions) == message.segments, (message_id, message.status, submissions)
            assert all(p.status in (PartStatus.SENT, PartStatus.DELIVERED) for p in message.parts)
        elif message.status == MessageStatus.UNKNOWN:
            assert any(p.status == PartStatus.UNKNOWN for p in message.parts)
            assert len(submissions) <= message.segments  # sent or not: never twice
        else:
            raise AssertionError(f"message {message_id} ended {message.status}")
    reported = Counter(r["recipient"][-9:] for r in sim.network.record.reports if r["status"] <= 0x1F)
    answered = [queue.get(message_id) for message_id in texts]
    answered = [m for m in answered if reported[m.to_number[-9:]] >= m.segments]
    left_sent = [m.id for m in answered if m.status == MessageStatus.SENT]
    assert not left_sent, f"{len(left_sent)} of {len(answered)} messages with delivery reports stayed sent"
    assert all(m.status in (MessageStatus.DELIVERED, MessageStatus.UNKNOWN) for m in answered)
    database.dispose()
    assert sum(by_status.values()) == MESSAGES
    assert by_status[MessageStatus.SENT] + by_status[MessageStatus.DELIVERED] >= MESSAGES - KILLS * 2
    print(f"kills={kills} outcome={dict(by_status)} parts={len(record)} reported={len(answered)}")
