"""The send engine end to end in the real daemon (engine_helpers.Gateway): queue in a real SQLite file,
workers, the consent check, the real serial driver, virtual modems on ptys. Time comes from a
FakeClock the test moves; a negative check waits for the event that proves it (a worker gone idle
until a given moment), never for a stretch of real time.

Here: failover to another modem, transient and permanent errors, a partial multipart failure,
inbound SMS stored before they leave the SIM, the engine outliving every fault.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.inbound.models import InboundMessage
from gateway.inbound.models import InboundPart
from gateway.outbound.models import MessageStatus
from modem.supervisor import ModemState

from .engine_helpers import gateway_factory  # noqa: F401  (fixtures)
from .modem_helpers import fail_nth_send, wait_settled, wait_until

pytestmark = pytest.mark.timeout(90)


def test_routing_failover_when_a_modem_is_unplugged(gateway_factory):
    gw = gateway_factory(modems=2)
    first = gw.queue.enqueue("+447700900123", "first")
    gw.wait_status(first.id, "sent", "delivered")
    sticky_sim = gw.queue.get(first.id).sim
    other = "sim2" if sticky_sim == "sim1" else "sim1"
    again = gw.queue.enqueue("+447700900123", "same customer, same SIM")
    gw.wait_status(again.id, "sent", "delivered")
    assert gw.queue.get(again.id).sim == sticky_sim
    gw.sim.ports[sticky_sim].unplug()
    wait_until(lambda: gw.supervisors[sticky_sim].state is not ModemState.READY, 10, "the unplug noticed")
    moved = [gw.queue.enqueue("+447700900123", f"while unplugged {i}").id for i in range(3)]
    pinned = gw.queue.enqueue("+447700900124", "must come from the unplugged SIM", sim=sticky_sim)
    for message_id in moved:
        gw.wait_status(message_id, "sent", "delivered")
        assert gw.queue.get(message_id).sim == other
    assert gw.status(pinned.id) == "queued"
    gw.sim.ports[sticky_sim].replug()
    gw.wait_status(pinned.id, "sent", "delivered", timeout=30)
    assert gw.queue.get(pinned.id).sim == sticky_sim


def test_transient_error_retries_permanent_error_fails(gateway_factory, clock):
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    modem.cms_error(42, times=1)  # congestion: try again later
    retried = gw.queue.enqueue("+447700900123", "try again")
    wait_until(lambda: gw.queue.get(retried.id).attempts == 1 and gw.status(retried.id) == "queued", 10)
    clock.advance(31)
    gw.engine.wake_all()
    gw.wait_status(retried.id, "sent", "delivered")
    assert gw.queue.get(retried.id).attempts == 2
    modem.cms_error(21, times=1)  # rejected: permanent
    failed = gw.queue.enqueue("+447700900124", "rejected")
    gw.wait_status(failed.id, "failed")
    stored = gw.queue.get(failed.id)
    assert stored.attempts == 1 and "CMS ERROR: 21" in stored.last_error


def test_no_part_resent_after_a_partial_multipart_failure(gateway_factory, clock):
    gw = gateway_factory()
    fail_nth_send(gw.sim.ports["sim1"].modem, 2, 47)  # part 2 meets a transient failure
    message = gw.queue.enqueue("+447700900123", "z" * 400)  # three parts
    wait_until(lambda: gw.queue.get(message.id).attempts == 1 and gw.status(message.id) == "queued", 10)
    first, *rest = [p.status for p in gw.queue.get(message.id).parts]
    # part 1's status report may already have come back (0.1 s after it went)
    assert first in ("sent", "delivered") and rest == ["pending", "pending"], (first, rest)
    clock.advance(31)
    gw.engine.wake_all()
    gw.wait_status(message.id, "sent", "delivered")
    accepted = [r["concat_seq"] for r in gw.submitted()]
    assert accepted.count(1) == 1  # part 1 went once, although the message was attempted twice
    assert sorted(set(accepted)) == [1, 2, 3]


def test_inbound_sms_is_stored_before_it_leaves_the_sim(gateway_factory):
    """Stored as a part, then deleted from the SIM, then made a message by the inbound pipeline."""
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    modem.inject_sms("+447700900999", "Hi, is the shop open today?", mode="cmti")

    def stored() -> list[InboundMessage]:
        with gw.queue.sessions() as session:
            return list(session.scalars(select(InboundMessage)).all())

    wait_until(stored, 10, "the inbound message")
    (message,) = stored()
    assert message.text == "Hi, is the shop open today?" and message.sender == "+447700900999"
    with gw.queue.sessions() as session:
        (part,) = session.scalars(select(InboundPart)).all()
    assert part.modem == "sim1" and part.raw_pdu
    wait_until(lambda: sum(modem.status()["stored"].values()) == 0, 10, "the SIM copy deleted")


def test_engine_outlives_every_fault(gateway_factory, clock):
    gw = gateway_factory()
    modem = gw.sim.ports["sim1"].modem
    supervisor = gw.supervisors["sim1"]
    modem.garbage(b"\xff\x00\xfe garbage\r\n")
    modem.send_urc("RING")
    # each fault lasts until the supervisor has seen it (an event), not for a stretch of real time
    modem.hang()  # until its watchdog restarts it
    supervisor.check_now()
    wait_until(lambda: supervisor.state is not ModemState.READY, 10, "the hang found")
    modem.reset()
    assert supervisor.wait_for({ModemState.READY}, 20), f"{supervisor.state} {supervisor.reason}"
    wait_settled(supervisor, modem)
    port = gw.sim.ports["sim1"]
    port.unplug()
    wait_until(lambda: supervisor.state is not ModemState.READY, 10, "the unplug noticed")
    port.replug()
    message = gw.queue.enqueue("+447700900123", "after all that")
    gw.wait_status(message.id, "sent", "delivered", timeout=30)
    assert MessageStatus.SENT in {e.status for e in gw.queue.get(message.id).events}
