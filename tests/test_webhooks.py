"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md. Backoff runs on the FakeClock: no sleeps.

Here: status events signed, retried until the receiver recovers, backed off and given up, then
replayed; an event to the endpoints subscribed to its type and a message's own callback URL; the
event committed with its status change or not at all; endpoints made and deleted; the dispatcher.
"""

from __future__ import annotations

import time

import pytest

from gateway.outbound.models import MessageStatus
from web.api.validation import parse_time

from .modem_helpers import wait_until
from .process_helpers import ProcessDied
from .webhook_helpers import TO, register
from .webhook_helpers import receivers, scheduler  # noqa: F401  (fixtures)


def send_through(queue, message_id, *, delivered: bool = False) -> None:
    """Move a message along as a worker would: sending -> sent (-> delivered)."""
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == message_id
    for part_id in claimed.part_ids.values():
        queue.part_submitting(part_id, "sim1")
        queue.part_sent(part_id, 7)
    queue.finish(message_id, MessageStatus.SENT)
    if delivered:
        queue.finish(message_id, MessageStatus.DELIVERED)


def test_status_webhooks_are_signed_and_retried_until_the_receiver_recovers(client, make_key, queue, webhooks,
                                                                            clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=2)
    endpoint = register(client, admin, receiver.url, ["message.status"])
    receiver.secret = endpoint["secret"]
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=admin.headers).json["id"]
    send_through(queue, message_id)

    assert webhooks.run_once() == 3  # queued, sending, sent: the first two fail
    assert [e["data"]["status"] for e in receiver.received] == ["sent"]
    failed = webhooks.deliveries(status="pending")
    assert len(failed) == 2 and all(d["attempts"] == 1 and d["last_error"].startswith("HTTP 500") for d in failed)
    assert webhooks.run_once() == 0  # not due yet: backoff
    clock.advance(10)
    assert webhooks.run_once() == 2
    assert [e["data"]["status"] for e in receiver.received] == ["sent", "queued", "sending"]
    assert receiver.bad_signatures == 0

    # every attempt is logged and visible through the API
    log = client.get(f"/api/v1/webhooks/deliveries/{failed[-1]['id']}", headers=admin.headers).json
    assert [a["http_status"] for a in log["attempt_log"]] == [500, 200]
    assert log["status"] == "delivered" and log["payload"]["data"]["id"] == message_id
    # nothing lost: each event reached the receiver exactly once
    ids = [e["id"] for e in receiver.received]
    assert len(set(ids)) == len(ids) == 3


def test_backoff_doubles_and_gives_up_after_max_attempts_then_replay(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=100)
    endpoint = register(client, admin, receiver.url, ["contact.opted_out"])
    receiver.secret = endpoint["secret"]
    webhooks.retry.max_attempts = 4
    webhooks.emit("contact.opted_out", {"number": TO, "source": "STOP"})
    waits = []
    for _ in range(4):
        assert webhooks.run_once() == 1
        pending = webhooks.deliveries()[0]
        if pending["status"] != "pending":
            break
        waits.append(parse_time(pending["next_attempt_at"]).timestamp() - clock.time())
        clock.advance(waits[-1])
    assert waits == [10, 20, 40]
    delivery = webhooks.deliveries()[0]
    assert delivery["status"] == "failed" and delivery["attempts"] == 4
    # manual replay, once the receiver is fixed
    receiver.fail = 0
    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers)
    assert replay.status_code == 202 and replay.json["replay_of"] == delivery["id"]
    assert webhooks.run_once() == 1
    assert receiver.received[0]["type"] == "contact.opted_out"
    assert receiver.received[0]["id"] == webhooks.delivery(delivery["id"])["event_id"]  # same event id: dedupe
    metrics = client.get("/api/v1/metrics", headers=admin.headers).get_data(as_text=True)
    assert 'gsmgw_webhook_attempts_total{outcome="failed"} 4.0' in metrics.splitlines()
    assert 'gsmgw_webhook_attempts_total{outcome="ok"} 1.0' in metrics.splitlines()


def test_an_emitted_event_reaches_the_endpoints_subscribed_to_its_type(webhooks, client, make_key, receivers):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_in", "contact.opted_out"])["secret"]
    assert webhooks.emit("message.received", {"text": "nobody listens"}) is None
    event_id = webhooks.emit("contact.opted_in", {"number": TO, "source": "keyword START"})
    webhooks.run_once()
    assert receiver.received == [{"id": event_id, "type": "contact.opted_in", "created_at": receiver.received[0]["created_at"],
                                  "data": {"number": TO, "source": "keyword START"}}]
    with pytest.raises(ValueError):
        webhooks.emit("contact.exploded", {})


def test_per_message_callback_url_is_signed_with_the_keys_secret(client, make_key, queue, webhooks, receivers):
    key = make_key("send,read")
    receiver = receivers(secret=key.signing_secret)
    response = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url},
                           headers=key.headers)
    message_id = response.json["id"]
    assert client.get(f"/api/v1/messages/{message_id}", headers=key.headers).json["callback_url"] == receiver.url
    other = client.post("/api/v1/messages", json={"to": TO, "text": "no callback"}, headers=key.headers).json["id"]
    send_through(queue, message_id, delivered=True)
    queue.cancel(other)
    webhooks.run_once()
    assert [(e["data"]["id"], e["data"]["status"]) for e in receiver.received] == [
        (message_id, "sending"), (message_id, "sent"), (message_id, "delivered")]
    assert receiver.bad_signatures == 0


def test_a_status_change_and_its_webhook_event_commit_together(client, make_key, queue, webhooks, receivers):
    admin = make_key("admin")
    subscribed, callback = receivers(), receivers(secret=admin.signing_secret)
    subscribed.secret = register(client, admin, subscribed.url, ["message.status"])["secret"]
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": callback.url},
                             headers=admin.headers).json["id"]

    def die(*_):
        raise ProcessDied

    queue.status_listeners.insert(0, die)  # the first thing after the commit
    with pytest.raises(ProcessDied):
        queue.claim("sim1")
    queue.status_listeners.remove(die)
    assert queue.get(message_id).status == MessageStatus.SENDING
    # a restarted dispatcher finds the events in the outbox
    assert webhooks.run_once() == 3
    assert [e["data"]["status"] for e in subscribed.received] == ["queued", "sending"]
    assert [e["data"]["status"] for e in callback.received] == ["sending"]
    assert subscribed.received[1]["id"] == callback.received[0]["id"]  # one event, two receivers


def test_a_rolled_back_status_change_leaves_no_webhook_event(client, make_key, queue, webhooks, receivers):
    admin = make_key("admin")
    receiver = receivers()
    register(client, admin, receiver.url, ["message.status"])
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=admin.headers).json["id"]
    before = len(webhooks.deliveries(message_id=message_id))

    def refuse(conn, changed_id, status):
        raise ProcessDied  # the transaction never commits

    queue.status_hooks.append(refuse)
    with pytest.raises(ProcessDied):
        queue.finish(message_id, MessageStatus.CANCELLED)
    queue.status_hooks.remove(refuse)
    assert queue.get(message_id).status == MessageStatus.QUEUED
    assert len(webhooks.deliveries(message_id=message_id)) == before


def test_unreachable_receiver_is_an_attempt_with_an_error(webhooks, clock):
    webhooks.create_endpoint("http://127.0.0.1:9/nothing-listens", ["contact.opted_out"])
    webhooks.emit("contact.opted_out", {"number": TO})
    assert webhooks.run_once() == 1
    delivery = webhooks.delivery(webhooks.deliveries()[0]["id"])
    attempt = delivery["attempt_log"][0]
    assert attempt["http_status"] is None and attempt["error"]
    assert delivery["status"] == "pending"


def test_endpoint_crud_and_delete_cancels_pending(client, make_key, webhooks):
    admin = make_key("admin")
    endpoint = register(client, admin, "http://127.0.0.1:9/a", ["message.status"])
    eid = endpoint["id"]
    assert endpoint["secret"].startswith("whsec_")
    assert "secret" not in client.get(f"/api/v1/webhooks/{eid}", headers=admin.headers).json
    patched = client.patch(f"/api/v1/webhooks/{eid}", json={"events": ["message.received"], "active": False},
                           headers=admin.headers).json
    assert patched["events"] == ["message.received"] and patched["active"] is False
    assert client.patch(f"/api/v1/webhooks/{eid}", json={}, headers=admin.headers).status_code == 422
    assert client.patch(f"/api/v1/webhooks/{eid}", json={"url": "mailto:x"}, headers=admin.headers).status_code == 422
    client.patch(f"/api/v1/webhooks/{eid}", json={"active": True, "events": ["contact.opted_out"]}, headers=admin.headers)
    webhooks.emit("contact.opted_out", {"number": TO})
    assert client.delete(f"/api/v1/webhooks/{eid}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/v1/webhooks/{eid}", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/webhooks", headers=admin.headers).json == {"items": []}
    page = client.get("/api/v1/webhooks/deliveries?status=cancelled", headers=admin.headers).json
    assert [d["status"] for d in page["items"]] == ["cancelled"]
    bad = client.post("/api/v1/webhooks", json={"url": "http://x/", "events": ["message.sent"]}, headers=admin.headers)
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "events[0]"


def test_the_dispatcher_delivers_without_being_asked(webhooks, receivers, scheduler):
    receiver = receivers()
    receiver.secret = webhooks.create_endpoint(receiver.url, ["contact.opted_out"])["secret"]
    webhooks.start(scheduler)
    started = time.monotonic()
    webhooks.emit("contact.opted_out", {"number": TO})  # the clock stands still: the wake-up runs it
    assert receiver.wait_for(1, timeout=10), "the dispatcher did not deliver"
    assert time.monotonic() - started < 10


def test_the_dispatcher_retries_when_the_clock_reaches_the_next_attempt(webhooks, receivers, scheduler, clock):
    receiver = receivers(fail=1)
    receiver.secret = webhooks.create_endpoint(receiver.url, ["contact.opted_out"])["secret"]
    webhooks.start(scheduler)
    webhooks.emit("contact.opted_out", {"number": TO})
    wait_until(lambda: webhooks.deliveries()[0]["attempts"] == 1, 10, "the first attempt")
    assert receiver.received == []
    clock.advance(webhooks.retry.delay(1))  # no call, no wake-up: the dispatcher's job comes due
    assert receiver.wait_for(1, timeout=10), "the retry did not come"
    wait_until(lambda: webhooks.deliveries()[0]["status"] == "delivered", 10, "the delivery to be delivered")
