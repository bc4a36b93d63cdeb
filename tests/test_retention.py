"""Retention on a real SQLite file, time from the FakeClock: old rows go, young rows stay, and what is
still needed (an unfinished message, a pending webhook, the consent ledger) is never touched."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from gateway.consent.models import ConsentEvent
from gateway.core import config as config_module
from gateway.core.config import ConfigError
from gateway.inbound.models import InboundMessage, InboundPart
from gateway.outbound.models import Message, MessageEvent, Part
from gateway.sims.models import SimSend
from gateway.store import db
from gateway.store.retention import REDACTED, RetentionPolicy, prune, prune_batch
from gateway.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

from .audience_helpers import make_rig

DAY = 86400.0
POLICY = RetentionPolicy(messages_days=400, events_days=30, transactional_text_days=1)
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def rig(queue, clock, request):
    """The inbound pipeline, started (its keywords seeded), so a STOP is filed in the ledger."""
    made = make_rig(queue, clock)
    request.addfinalizer(made.pipeline.stop)
    return made


def finished(queue, to: str, text: str, kind: str = "marketing"):
    """A message in a final state (cancelled), as stored by the queue."""
    message = queue.enqueue(to, text, kind=kind)
    assert queue.cancel(message.id)
    return message


def count(queue, model, *where) -> int:
    with queue.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def run(queue, clock, policy: RetentionPolicy = POLICY, batch: int = 500) -> int:
    return prune(db.engine_of(queue.sessions), clock.now(), policy, batch)


def test_a_transactional_text_is_redacted_after_a_day_and_its_status_stays(queue, clock):
    code = queue.enqueue("+447700900123", "Your code is 482913", kind="transactional")
    offer = queue.enqueue("+447700900124", "20% off today", kind="marketing")
    waiting = queue.enqueue("+447700900125", "Your code is 111111", kind="transactional")
    assert queue.cancel(code.id) and queue.cancel(offer.id)
    clock.advance(23 * 3600)
    run(queue, clock)
    assert queue.get(code.id).text == "Your code is 482913"  # not a day yet
    clock.advance(2 * 3600)
    assert run(queue, clock) >= 1
    redacted = queue.get(code.id)
    assert redacted.text == REDACTED and redacted.status == "cancelled"
    assert queue.get(offer.id).text == "20% off today"  # marketing texts are the shop's own copy
    assert queue.get(waiting.id).text == "Your code is 111111"  # still queued: it must still go out
    assert queue.get(waiting.id).status == "queued"


def test_old_messages_go_young_and_unfinished_ones_stay(queue, clock):
    old = finished(queue, "+447700900123", "old news")
    stuck = queue.enqueue("+447700900124", "still queued", kind="marketing")
    clock.advance(200 * DAY)
    young = finished(queue, "+447700900125", "recent")
    clock.advance(201 * DAY)
    run(queue, clock)
    assert count(queue, Message, Message.id == old.id) == 0
    assert count(queue, Part, Part.message_id == old.id) == 0
    assert count(queue, MessageEvent, MessageEvent.message_id == old.id) == 0
    assert queue.get(stuck.id).status == "queued" and len(queue.get(stuck.id).parts) == 1
    assert queue.get(young.id).status == "cancelled"


def test_events_go_after_their_days_but_an_unfinished_message_keeps_its_history(queue, clock):
    done = finished(queue, "+447700900123", "done")
    waiting = queue.enqueue("+447700900124", "waiting", kind="marketing")
    clock.advance(31 * DAY)
    run(queue, clock)
    assert count(queue, MessageEvent, MessageEvent.message_id == done.id) == 0
    assert queue.get(done.id).status == "cancelled"  # the message itself stays its 400 days
    assert count(queue, MessageEvent, MessageEvent.message_id == waiting.id) >= 1


def test_a_pending_webhook_keeps_its_delivery_and_its_message(queue, clock):
    message = finished(queue, "+447700900123", "done")
    with queue.sessions.begin() as session:
        pending = WebhookDelivery(event_id="e1", event_type="message.status", payload="{}", url="http://x/",
                                  secret="s", status=DeliveryStatus.PENDING, next_attempt_at=clock.now(),
                                  message_id=message.id, created_at=clock.now())
        settled = WebhookDelivery(event_id="e2", event_type="message.status", payload="{}", url="http://x/",
                                  secret="s", status=DeliveryStatus.DELIVERED, next_attempt_at=clock.now(),
                                  created_at=clock.now())
        session.add_all([pending, settled])
        session.flush()
        session.add_all([WebhookAttempt(delivery_id=pending.id, at=clock.now(), http_status=500, duration_ms=3),
                         WebhookAttempt(delivery_id=settled.id, at=clock.now(), http_status=200, duration_ms=3)])
    clock.advance(401 * DAY)
    run(queue, clock)
    assert count(queue, WebhookDelivery, WebhookDelivery.id == settled.id) == 0
    assert count(queue, WebhookAttempt, WebhookAttempt.delivery_id == settled.id) == 0
    assert count(queue, WebhookDelivery, WebhookDelivery.id == pending.id) == 1
    assert count(queue, WebhookAttempt, WebhookAttempt.delivery_id == pending.id) == 1
    assert queue.get(message.id).status == "cancelled"


def test_old_inbound_goes_but_the_consent_ledger_and_the_stop_it_cites_stay(rig, queue, clock):
    rig.receive("+447700900123", "Are you open on Sunday?")
    rig.receive("+447700900124", "STOP")
    with queue.sessions() as session:
        (stop_event,) = session.scalars(select(ConsentEvent)).all()
    assert stop_event.inbound_message_id is not None
    clock.advance(401 * DAY)
    run(queue, clock)
    with queue.sessions() as session:
        assert [m.text for m in session.scalars(select(InboundMessage)).all()] == ["STOP"]
        assert [e.id for e in session.scalars(select(ConsentEvent)).all()] == [stop_event.id]
    assert count(queue, InboundPart) == 1  # the STOP's own part


def test_raw_pdus_are_dropped_once_decoded_and_past_the_duplicate_window(rig, queue, clock):
    rig.receive("+447700900123", "Hello")
    undecodable = InboundPart(modem="sim1", sender=None, text=None, raw_pdu="07FFFF", error="bad PDU",
                              received_at=clock.now())
    with queue.sessions.begin() as session:
        session.add(undecodable)
    clock.advance(6 * DAY)
    run(queue, clock)
    assert count(queue, InboundPart, InboundPart.raw_pdu == "") == 0  # a re-read is still recognised
    clock.advance(2 * DAY)
    run(queue, clock)
    with queue.sessions() as session:
        pdus = dict(session.execute(select(InboundPart.text, InboundPart.raw_pdu)).all())
    assert pdus == {"Hello": "", None: "07FFFF"}  # the undecodable part keeps all there is of it


def test_a_batch_is_bounded_and_counts_what_it_removed(queue, clock):
    ids = [m.id for m in queue.enqueue_many([{"to": "+447700900123", "text": f"m{i}", "kind": "marketing"}
                                             for i in range(7)], source="cli")]
    for message_id in ids:
        assert queue.cancel(message_id)
    clock.advance(401 * DAY)
    engine = db.engine_of(queue.sessions)
    with engine.begin() as conn:
        first = prune_batch(conn, clock.now(), POLICY, 3)
    assert count(queue, Message) == 4
    assert first >= 3 * 3  # three messages with a part and events each
    assert run(queue, clock, batch=3) > 0 and count(queue, Message) == 0
    assert run(queue, clock) == 0  # nothing left: idempotent


def test_zero_days_keeps_for_ever(queue, clock):
    message = finished(queue, "+447700900123", "Your code is 1", kind="transactional")
    clock.advance(1000 * DAY)
    assert run(queue, clock, RetentionPolicy(0, 0, 0)) == 0
    assert queue.get(message.id).text == "Your code is 1"


def test_retention_config_is_validated():
    config = config_module.from_dict({"retention": {"messages_days": 90, "events_days": 7}})
    assert RetentionPolicy.of(config.retention) == RetentionPolicy(90, 7, 1)
    assert config_module.from_dict({}).retention.messages_days == 400
    for bad, said in [({"batch": 0}, "retention.batch"), ({"messages_days": -1}, "must not be negative"),
                      ({"messages_days": 10, "events_days": 30}, "less than events_days"),
                      ({"prune_every_s": 1}, "prune_every_s")]:
        with pytest.raises(ConfigError, match=said):
            config_module.from_dict({"retention": bad})


def test_the_example_config_has_the_retention_defaults():
    text = (Path(__file__).parent.parent / "config" / "gsmgw.example.toml").read_text()
    assert tomllib.loads(text)["retention"] == {"messages_days": 400.0, "events_days": 30.0,
                                                "transactional_text_days": 1.0,
                                                "prune_every_s": 3600.0, "batch": 500}


def test_a_sims_sends_are_kept_for_its_longest_window_even_when_messages_go_sooner(queue, clock):
    """A SIM's send history outlives a short messages_days (its limits still count the sends) and
    goes once no window can count it: the part it names may be pruned first."""
    message = finished(queue, "+447700900123", "sent and done")
    part_id = queue.get(message.id).parts[0].id
    with db.engine_of(queue.sessions).begin() as conn:
        conn.execute(insert(SimSend).values(sim="8944000000000000001", modem="m1", to_number="+447700900123",
                                            part_id=part_id, at=clock.now(), monotonic=None, boot=""))
    clock.advance(10 * DAY)
    run(queue, clock, RetentionPolicy(messages_days=7, events_days=7, transactional_text_days=1))
    assert count(queue, Message, Message.id == message.id) == 0
    assert count(queue, SimSend) == 1  # still inside the 30-day window
    clock.advance(25 * DAY)
    run(queue, clock)
    assert count(queue, SimSend) == 0


def sent_without_report(queue, to: str, text: str, kind: str) -> int:
    """A message the network accepted whose status report never came: once the report wait is over
    the queue records that (`no_report`); the message stays `sent`."""
    message = queue.enqueue(to, text, kind=kind)
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == message.id
    assert queue.part_submitting(claimed.part_ids[1], "sim1") is None
    queue.part_sent(claimed.part_ids[1], 17, last=True)
    clock = queue.clock
    clock.advance(queue.report_wait.total_seconds())
    assert queue.record_no_reports() == 1
    stored = queue.get(message.id)
    assert stored.status == "sent" and stored.finished_at == clock.now()
    return message.id


def test_a_code_whose_report_never_came_is_redacted_and_later_pruned_like_a_finished_one(queue, clock):
    code = sent_without_report(queue, "+447700900123", "Your code is 482913", "transactional")
    awaiting = queue.enqueue("+447700900124", "Your code is 555555", kind="transactional")
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == awaiting.id
    assert queue.part_submitting(claimed.part_ids[1], "sim1") is None
    queue.part_sent(claimed.part_ids[1], 18, last=True)  # sent now: its report may still come
    clock.advance(DAY + 60)
    assert run(queue, clock) >= 1
    assert queue.get(code).text == REDACTED and queue.get(code).status == "sent"
    assert queue.get(awaiting.id).text == "Your code is 555555"  # still awaiting its report: untouched
    clock.advance(400 * DAY)
    run(queue, clock)
    assert count(queue, Message, Message.id == code) == 0
    assert count(queue, Part, Part.message_id == code) == 0
