"""The send engine end to end in the real daemon (engine_helpers.Gateway): queue in a real SQLite file,
workers, the consent check, the real serial driver, virtual modems on ptys. Time comes from a
FakeClock the test moves; a negative check waits for the event that proves it (a worker gone idle
until a given moment), never for a stretch of real time.

Here: a crash (a kill -9's image of the database) at each step of a send, an error the worker did
not expect, the sweep of what a dead worker left `sending`: nothing sent twice, nothing requeued
that may have gone.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from gateway.outbound.queue import Queue
from gateway.outbound.verdict import SEND
from gateway.store import db

from .engine_helpers import ONLY_ASKED_CHECKS
from .engine_helpers import gateway_factory  # noqa: F401  (fixtures)
from .modem_helpers import wait_until, when_the_modem_sees
from .process_helpers import ProcessDied

pytestmark = pytest.mark.timeout(90)


def crash_image(gw, path) -> Queue:
    """The database as a kill -9 at this moment would leave it (what is committed), to restart on."""
    source = sqlite3.connect(gw.tmp_path / "gsmgw.db")
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    image = db.make_engine(f"sqlite:///{path}")
    gw.images.append(image)
    return Queue(db.sessions(image), gw.clock)


def part_status(gw, to_number: str, seq: int) -> str | None:
    """A part's status as committed, found by its message's number (the hooks that ask run before
    the test has read any ids back)."""
    with sqlite3.connect(gw.tmp_path / "gsmgw.db") as conn:
        row = conn.execute("SELECT p.status FROM message_parts p JOIN messages m ON m.id = p.message_id "
                           "WHERE m.to_number = ? AND p.seq = ?", (to_number, seq)).fetchone()
    return row[0] if row else None


def crash_at_the_second_prompt(gw, path, to_number: str, seq: int) -> list[Queue]:
    """At the modem's second AT+CMGS from now, once the part (`to_number`, `seq`) is committed
    `submitting`, take a crash image to `path`; the list returned holds it then."""
    images: list[Queue] = []

    def crash() -> None:
        wait_until(lambda: part_status(gw, to_number, seq) == "submitting", 10, f"part {seq} to {to_number} in doubt")
        images.append(crash_image(gw, path))

    when_the_modem_sees(gw.sim.ports["sim1"].modem, 2, crash)
    return images


@pytest.mark.sqlite_only  # the crash image is a copy of the SQLite file
def test_a_crash_after_the_next_part_is_in_doubt_keeps_the_answered_part(gateway_factory, tmp_path):
    """Part 1 answered, part 2's `submitting` committed, its PDU not written yet: a crash there must
    find part 1 recorded, so a restart with resend_unknown sends part 2 only (not part 1 twice)."""
    gw = gateway_factory()
    images = crash_at_the_second_prompt(gw, tmp_path / "crash.db", "+447700900123", 2)
    message = gw.queue.enqueue("+447700900123", "m" * 200)  # two parts
    gw.wait_status(message.id, "sent", "delivered")
    restarted = images[0]
    restarted.recover(resend_unknown=True, modems=["sim1"])
    stored = restarted.get(message.id)
    assert [p.status for p in stored.parts] == ["sent", "pending"]
    assert stored.parts[0].reference == gw.submitted()[0]["mr"]
    assert restarted.claim("sim1").pending_seqs == (2,)


@pytest.mark.sqlite_only  # the crash image is a copy of the SQLite file
def test_a_crash_while_the_next_message_goes_leaves_the_sent_one_sent(gateway_factory, tmp_path):
    """The message claimed ahead is in doubt, its PDU not written yet: the one before, whose only
    part the modem answered, is `sent` in the crash image, not `unknown`."""
    gw = gateway_factory()
    images = crash_at_the_second_prompt(gw, tmp_path / "crash.db", "+447700900124", 1)
    # both at once: the second is claimed ahead while the first is sent
    first, second = gw.queue.enqueue_many([{"to": "+447700900123", "text": "first"},
                                           {"to": "+447700900124", "text": "second"}], source="api")
    gw.wait_status(second.id, "sent", "delivered")
    restarted = images[0]
    assert restarted.recover(modems=["sim1"]) == {"unknown": 1, "requeued": 0}
    assert restarted.get(first.id).status == "sent"
    assert restarted.get(second.id).status == "unknown"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fault", ["unknown", "failed"])
def test_a_crash_while_recording_an_outcome_never_requeues_the_message(gateway_factory, fault):
    """A part's fate and its message's are one commit: a crash (the status hook's kill) that
    undoes the message's never leaves the part's behind, which a restart would read as nothing
    left to send and mark `sent`."""
    gw = gateway_factory(send_timeout=1.0, check_interval=ONLY_ASKED_CHECKS)
    modem = gw.sim.ports["sim1"].modem

    def crash(conn, message_id, status):
        if status == fault:
            raise ProcessDied

    gw.queue.status_hooks.append(crash)
    if fault == "unknown":
        modem.set_latency(3)  # no answer after the PDU: in doubt
    else:
        modem.cms_error(21, times=1)  # refused for good
    message = gw.queue.enqueue("+447700900123", "one part")
    worker = gw.engine.workers["sim1"]
    wait_until(lambda: not worker._thread.is_alive(), 10, "the worker to die with the process")
    gw.queue.status_hooks.remove(crash)
    assert gw.status(message.id) == "sending"
    modem.set_latency(0)
    assert gw.queue.recover(modems=["sim1"]) == {"unknown": 1, "requeued": 0}  # the part is in doubt
    stored = gw.queue.get(message.id)
    assert stored.status == "unknown" and [p.status for p in stored.parts] == ["unknown"]
    assert gw.queue.claim("sim1") is None  # never sent again, never marked sent


def events(gw, message_id: int) -> list[tuple[str, str | None]]:
    return [(e.status, e.detail) for e in gw.queue.get(message_id).events]


def test_an_error_the_worker_did_not_expect_settles_what_it_claimed(gateway_factory, clock):
    """A database error after the lock wait in the send-time check (once): the message goes back
    to the queue at once and is sent, instead of staying `sending` until a restart."""
    class LockedOnce:
        def __init__(self) -> None:
            self.failed = False

        def __call__(self, claimed):
            return SEND

        def within(self, conn, claimed):
            if claimed.attempts == 1:  # the whole first attempt (a unit of work may be run twice)
                self.failed = True
                raise OperationalError("SELECT consent", {}, sqlite3.OperationalError("database is locked"))
            return SEND

    check = LockedOnce()
    gw = gateway_factory(pre_send=check)
    message = gw.queue.enqueue("+447700900123", "hello")
    wait_until(lambda: check.failed and ("queued", "settled after a worker error") in events(gw, message.id), 10,
               "the claim given back")
    gw.wait_idle_until("sim1-worker", clock.time() + 1.0, since=clock.time())  # the worker's pause after an error
    clock.advance(1.0)
    gw.wait_status(message.id, "sent", "delivered")
    assert [r["text"] for r in gw.submitted()] == ["hello"]  # once


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_sweep_settles_what_a_dead_worker_left_sending(gateway_factory, clock):
    """The worker dies (a kill in the first part's commit) holding a one-time code and, before it,
    a message whose part is in doubt: no restart comes, the engine's periodic sweep settles both
    once they are `sending` longer than a send could take, and the code expires."""
    class DiesAtTheSecond:
        """The kill comes in the second message's commit, known by its number: a count of calls
        would also count a unit of work the group commit runs twice (after a neighbour failed)."""

        def __call__(self, claimed):
            return SEND

        def within(self, conn, claimed):
            if claimed.to_number == "+447700900126":
                raise ProcessDied
            return SEND

    gw = gateway_factory(pre_send=DiesAtTheSecond())
    otp = gw.queue.enqueue("+447700900125", "code 4321", priority="high", expires_in=30)
    gw.wait_status(otp.id, "sent", "delivered")  # the first goes
    second = gw.queue.enqueue("+447700900126", "code 9876", priority="high", expires_in=30)
    worker = gw.engine.workers["sim1"]
    wait_until(lambda: not worker._thread.is_alive(), 10, "the worker to die")
    assert gw.status(second.id) == "sending"
    clock.advance(31)  # expired, but a live send could still be going
    swept_from = clock.time()
    gw.engine.wake_all()
    assert gw.daemon.scheduler.wait_ran("outbound.sweep", swept_from, 10)  # a sweep ran at this time
    assert gw.status(second.id) == "sending"
    clock.advance(3600)  # no send takes an hour
    gw.wait_status(second.id, "expired")
    assert [r["text"] for r in gw.submitted()] == ["code 4321"]
