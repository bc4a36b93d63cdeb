"""The send engine end to end in the real daemon (engine_helpers.Gateway): queue in a real SQLite file,
workers, the consent check, the real serial driver, virtual modems on ptys. Time comes from a
FakeClock the test moves; a negative check waits for the event that proves it (a worker gone idle
until a given moment), never for a stretch of real time.

Here: a SIM's sending limits, counted in parts in rolling windows, across a restart and between
the parts of one message.
"""

from __future__ import annotations

import pytest

from .engine_helpers import Gateway
from .engine_helpers import gateway_factory  # noqa: F401  (fixtures)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(("window", "seconds"), [("per_minute", 60), ("per_hour", 3600),
                                                 ("per_day", 86400), ("per_month", 30 * 86400)])
def test_limits_counted_in_parts_in_rolling_windows(gateway_factory, clock, window, seconds):
    gw = gateway_factory(limits={window: 3})
    start = clock.time()
    two_parts = gw.queue.enqueue("+447700900123", "y" * 200)  # 2 parts
    singles = [gw.queue.enqueue("+447700900124", f"single {i}").id for i in range(3)]
    gw.wait_status(two_parts.id, "sent", "delivered")
    gw.wait_status(singles[0], "sent", "delivered")
    gw.wait_idle_until("sim1-worker", start + seconds, since=start)  # 2 + 1 parts: the cap is reached
    assert len(gw.submitted()) == 3 and gw.status(singles[1]) == "queued"
    clock.advance(seconds - 1)
    gw.engine.wake_all()
    gw.wait_idle_until("sim1-worker", start + seconds, since=start + seconds - 1)  # still inside the window
    assert len(gw.submitted()) == 3 and gw.status(singles[1]) == "queued"
    clock.advance(1.5)
    gw.engine.wake_all()
    for message_id in singles[1:]:
        gw.wait_status(message_id, "sent", "delivered")
    assert len(gw.submitted()) == 5


def test_limits_survive_a_restart(tmp_path, clock):
    start = clock.time()
    first = Gateway(tmp_path, clock, limits={"per_minute": 2})
    try:
        ids = [first.queue.enqueue("+447700900123", f"m{i}").id for i in range(2)]
        for message_id in ids:
            first.wait_status(message_id, "sent", "delivered")
    finally:
        first.stop()
    second = Gateway(tmp_path, clock, limits={"per_minute": 2})
    try:
        third = second.queue.enqueue("+447700900123", "m2").id
        second.wait_idle_until("sim1-worker", start + 60, since=start)  # the restart reset nothing
        assert second.status(third) == "queued"
        clock.advance(61)
        second.engine.wake_all()
        second.wait_status(third, "sent", "delivered")
    finally:
        second.stop()


def test_a_message_waiting_for_the_limits_between_parts_is_not_left_sending(gateway_factory, clock):
    """Only a send in progress is `sending` (the sweep relies on it): a long message whose next part
    must wait for the per-minute cap goes back to the queue until the slot, then on the same SIM."""
    gw = gateway_factory(modems=2, limits={"per_minute": 2})
    message = gw.queue.enqueue("+447700900123", "q" * 400)  # three parts
    wait_until(lambda: len(gw.submitted()) == 2 and gw.status(message.id) == "queued", 10,
               "two parts sent, the third waiting in the queue")
    sim = gw.queue.get(message.id).sim
    *gone, waiting = [p.status for p in gw.queue.get(message.id).parts]
    # a sent part's status report may already have come back (0.1 s after it went)
    assert len(gone) == 2 and set(gone) <= {"sent", "delivered"} and waiting == "pending", (gone, waiting)
    clock.advance(61)
    gw.engine.wake_all()
    gw.wait_status(message.id, "sent", "delivered")
    assert {r["modem"] for r in gw.submitted()} == {sim}  # all three parts from one SIM
    assert [r["concat_seq"] for r in gw.submitted()] == [1, 2, 3]
