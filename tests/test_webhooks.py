"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md, fails, then recovers. Backoff runs on the FakeClock: no sleeps."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from gateway.consent.models import ConsentEvent
from gateway.outbound.models import MessageStatus
from web.api.validation import parse_time

from .modem_helpers import wait_until
from .process_helpers import ProcessDied
from .webhook_helpers import Receiver

TO = "+447700900123"


@pytest.fixture
def scheduler(clock):
    from gateway.scheduler.service import Scheduler

    made = Scheduler(clock)
    made.start()
    yield made
    made.shutdown()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


def register(client, key, url, events):
    response = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=key.headers)
    assert response.status_code == 201, response.json
    return response.json


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


def receive(web_context, clock, sender: str, text: str, *, concat=None) -> None:
    """An SMS part stored as the engine stores it, handed to the inbound pipeline."""
    from gateway.inbound.models import InboundPart

    ref, total, seq = concat or (None, None, None)
    with web_context.sessions.begin() as session:
        part = InboundPart(modem="sim1", sender=sender, text=text, received_at=clock.now(), raw_pdu="00",
                           concat_ref=ref, concat_total=total, concat_seq=seq)
        session.add(part)
    web_context.inbound(part)


def test_message_received_once_per_reassembled_sms(web_context, client, make_key, receivers, clock):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["message.received"])["secret"]
    receive(web_context, clock, TO, "Hello, do you have ", concat=(7, 2, 1))
    assert web_context.webhooks.run_once() == 0  # half a message is not a message yet
    receive(web_context, clock, TO, "size 42?", concat=(7, 2, 2))
    assert web_context.webhooks.run_once() == 1
    [event] = receiver.received
    data = event["data"]
    assert event["type"] == "message.received"
    assert (data["from"], data["text"], data["sim"], data["parts"], data["complete"]) == (
        TO, "Hello, do you have size 42?", "sim1", 2, True)
    assert data["contact_id"] is not None  # an unknown sender became a contact


def test_opt_in_by_api_and_stop_by_sms_are_consent_events(web_context, client, make_key, receivers, clock):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out", "contact.opted_in"])["secret"]
    web_context.audience.opt_in(TO, source="api", detail="signed up at the till")
    receive(web_context, clock, TO, " Stop. ")
    web_context.audience.opt_in(TO, source="api", detail="again")  # after their STOP: only asks, no event
    assert web_context.webhooks.run_once() == 2
    into, out = receiver.received
    assert (into["type"], into["data"]["source"], into["data"]["detail"]) == (
        "contact.opted_in", "api", "signed up at the till")
    assert (out["type"], out["data"]["number"], out["data"]["source"]) == ("contact.opted_out", TO, "keyword")
    assert out["data"]["inbound_message_id"] is not None


def test_a_consent_change_and_its_webhook_event_commit_together(web_context, client, make_key, receivers):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out"])["secret"]

    def die(conn, contact, event):
        raise ProcessDied  # after the webhook's hook wrote its row, before the commit

    audience = web_context.audience
    audience.consent_hooks.append(die)
    with pytest.raises(ProcessDied):
        audience.opt_out(TO, source="api")
    audience.consent_hooks.remove(die)
    assert web_context.webhooks.deliveries() == []  # no event for an opt-out that never was
    with web_context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0  # nor the opt-out itself
    audience.opt_out(TO, source="api")
    assert web_context.webhooks.run_once() == 1 and receiver.received[0]["type"] == "contact.opted_out"


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


# ---- where deliveries may go ([webhooks] allowed_hosts) ------------------------------------------
def strict_webhooks(database, clock, allowed_hosts=()):
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    return Webhooks(db.sessions(database), clock, timeout=2.0, cache_seconds=0.0, allowed_hosts=allowed_hosts)


def test_loopback_receivers_are_refused_at_connect_time_also_through_a_name(database, clock, receivers):
    server = receivers(check_signature=False)
    hooks = strict_webhooks(database, clock)  # no allowed_hosts: loopback is off limits
    hooks.create_endpoint(f"http://127.0.0.1:{server.port}/hook", ["contact.opted_out"])
    hooks.create_endpoint(f"http://localhost:{server.port}/hook", ["contact.opted_out"])
    hooks.emit("contact.opted_out", {"number": TO})
    assert hooks.run_once() == 2
    assert server.hits == 0
    for delivery in hooks.deliveries():
        assert delivery["status"] == "pending" and "loopback or link-local" in delivery["last_error"]
    # listed, the same receiver is reached: by the address, and by a name that resolves to it
    allowed = strict_webhooks(database, clock, allowed_hosts=["127.0.0.1"])
    clock.advance(60)
    assert allowed.run_once() == 2
    assert server.hits == 2
    assert {d["status"] for d in allowed.deliveries()} == {"delivered"}


def test_a_redirect_is_not_followed_to_a_host_that_is_not_allowed(database, clock, receivers):
    inner = receivers(host="127.0.0.2", check_signature=False)  # loopback too, but not listed
    outer = receivers(check_signature=False, status=307, headers={"Location": f"http://127.0.0.2:{inner.port}/admin"})
    hooks = strict_webhooks(database, clock, allowed_hosts=["127.0.0.1"])
    hooks.create_endpoint(f"http://127.0.0.1:{outer.port}/hook", ["contact.opted_out"])
    hooks.emit("contact.opted_out", {"number": TO})
    assert hooks.run_once() == 1
    assert (outer.hits, inner.hits) == (1, 0)
    assert hooks.deliveries()[0]["last_error"].startswith("HTTP 307")


def test_only_a_short_clean_excerpt_of_a_failing_receivers_body_is_kept(webhooks, receivers):
    page = b"\x1b[2J<html>\r\n  <title>Internal\tadmin</title>\x00" + b"A" * 20_000 + b"\nroot:x:0:0"
    server = receivers(check_signature=False, status=500, body=page)
    webhooks.create_endpoint(f"http://127.0.0.1:{server.port}/hook", ["contact.opted_out"])
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    delivery = webhooks.delivery(webhooks.deliveries()[0]["id"])
    for text in (delivery["last_error"], delivery["attempt_log"][0]["error"]):
        assert text.startswith("HTTP 500: ") and "<html> <title>Internal admin</title> AAA" in text
        assert len(text) <= 140 and text.isprintable() and "root:" not in text


def test_the_api_refuses_loopback_and_link_local_urls_unless_listed_and_takes_lan_ones(web_context, database,
                                                                                       clock, make_key):
    import dataclasses

    from web import create_app

    strict = dataclasses.replace(web_context, webhooks=strict_webhooks(database, clock, allowed_hosts=["pos.local"]))
    client = create_app(strict, {"TESTING": True}).test_client()
    admin = make_key("admin")
    for url in ("http://127.0.0.1:8080/admin", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                "http://[fe80::1]/x", "http://localhost/x", "http://0.0.0.0:22/", "http://[::ffff:127.0.0.1]/"):
        answer = client.post("/api/v1/webhooks", json={"url": url, "events": ["message.status"]}, headers=admin.headers)
        assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "url", url
        sent = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": url}, headers=admin.headers)
        assert sent.status_code == 422 and sent.json["errors"][0]["field"] == "callback_url", url
    for url in ("http://192.168.1.20/pos", "http://10.0.0.5:8000/hook", "https://pos.local/gsmgw"):
        answer = client.post("/api/v1/webhooks", json={"url": url, "events": ["message.status"]}, headers=admin.headers)
        assert answer.status_code == 201, (url, answer.json)


def test_target_policy_rules():
    from ipaddress import ip_address

    from gateway.webhooks.targets import TargetPolicy

    none = TargetPolicy.of([])
    for address in ("127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"):
        assert none.refusal_of_address("h", ip_address(address)), address
    for address in ("192.168.1.20", "10.1.2.3", "172.16.0.1", "8.8.8.8", "fd00::2"):
        assert none.refusal_of_address("h", ip_address(address)) is None, address
    listed = TargetPolicy.of(["127.0.0.0/8", "metadata.lan", "[::1]"])
    assert listed.refusal_of_address("x", ip_address("127.0.0.5")) is None
    assert listed.refusal_of_address("x", ip_address("::1")) is None
    assert listed.refusal_of_address("Metadata.LAN.", ip_address("169.254.169.254")) is None
    assert listed.refusal_of_address("x", ip_address("169.254.169.254"))
    with pytest.raises(ValueError):
        TargetPolicy.of(["http://x/"])


# ---- receivers follow their current state --------------------------------------------------------
def test_one_hanging_endpoint_does_not_hold_up_the_others(database, clock, receivers, scheduler):
    import socket

    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    hanging = socket.socket()  # accepts connections (the kernel does) and never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)
    hooks = Webhooks(db.sessions(database), clock, timeout=20.0, cache_seconds=0.0, allowed_hosts=["127.0.0.1"])
    try:
        hooks.create_endpoint(f"http://127.0.0.1:{hanging.getsockname()[1]}/hook", ["contact.opted_out"])
        healthy = receivers()
        healthy.secret = hooks.create_endpoint(healthy.url, ["contact.opted_out"])["secret"]
        for n in range(3):
            hooks.emit("contact.opted_out", {"number": TO, "n": n})
        hooks.start(scheduler)
        assert healthy.wait_for(3, timeout=10), "the healthy endpoint waited for the hanging one"
        assert [e["data"]["n"] for e in healthy.received] == [0, 1, 2]
    finally:
        hanging.close()  # the hanging attempt now fails at once
        hooks.stop()


def test_a_rotated_secret_and_the_old_one_both_sign_until_the_grace_period_ends(client, make_key, webhooks,
                                                                                clock, receivers):
    admin = make_key("admin")
    receiver = receivers()
    endpoint = register(client, admin, receiver.url, ["contact.opted_out"])
    old_secret = receiver.secret = endpoint["secret"]
    rotated = client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", json={"grace_seconds": 3600},
                          headers=admin.headers)
    assert rotated.status_code == 200, rotated.json
    new_secret = rotated.json["secret"]
    assert new_secret != old_secret and rotated.json["previous_secret_valid_until"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()  # the receiver still has the old secret: accepted
    assert len(receiver.received) == 1 and len(receiver.signatures) == 2
    receiver.secret = new_secret  # it switches whenever it likes
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 2
    clock.advance(3601)  # grace over: only the new secret signs
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 3 and len(receiver.signatures) == 1
    receiver.secret = old_secret
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 3 and receiver.bad_signatures == 1
    none = client.post("/api/v1/webhooks/999/rotate-secret", json={}, headers=admin.headers)
    assert none.status_code == 404


def test_callbacks_of_a_revoked_key_stop(client, make_key, queue, webhooks, receivers):
    admin, till = make_key("admin"), make_key("send,read")
    receiver = receivers(secret=till.signing_secret)
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url},
                             headers=till.headers).json["id"]
    claimed = queue.claim("sim1")  # "sending" is stored for the callback
    assert client.delete(f"/api/v1/keys/{till.id}", headers=admin.headers).status_code == 200
    for part_id in claimed.part_ids.values():
        queue.part_submitting(part_id, "sim1")
        queue.part_sent(part_id, 7)
    queue.finish(message_id, MessageStatus.SENT)
    webhooks.run_once()
    assert receiver.received == []
    [delivery] = webhooks.deliveries(message_id=message_id)  # only the one stored before the revocation
    assert delivery["status"] == "cancelled" and "revoked" in delivery["last_error"]
    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers)
    assert replay.status_code == 409


def test_deactivating_an_endpoint_stops_its_queued_retries(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=1)
    endpoint = register(client, admin, receiver.url, ["contact.opted_out"])
    receiver.secret = endpoint["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    assert webhooks.run_once() == 1 and receiver.received == []  # failed once: a retry is queued
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": False}, headers=admin.headers)
    clock.advance(3600)
    assert webhooks.run_once() == 0 and receiver.received == []
    [delivery] = webhooks.deliveries()
    assert delivery["status"] == "cancelled" and delivery["last_error"] == "endpoint deactivated"
    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers)
    assert replay.status_code == 409 and "deactivated" in replay.json["detail"]
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": True}, headers=admin.headers)
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers).status_code == 202
    assert webhooks.run_once() == 1 and len(receiver.received) == 1


def test_queued_retries_go_to_the_endpoints_new_url(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    old, new = receivers(fail=100), receivers()
    endpoint = register(client, admin, old.url, ["contact.opted_out"])
    old.secret = new.secret = endpoint["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"url": new.url}, headers=admin.headers)
    clock.advance(10)
    assert webhooks.run_once() == 1
    assert len(new.received) == 1 and old.fail == 99  # the old URL was tried once, before the change
    delivery = webhooks.delivery(webhooks.deliveries()[0]["id"])
    assert delivery["url"] == new.url and [a["http_status"] for a in delivery["attempt_log"]] == [500, 200]


def test_a_live_delivery_is_not_replayed_beside_itself(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=1)
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out"])["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    [retrying] = webhooks.deliveries()
    refused = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert refused.status_code == 409 and "still pending" in refused.json["detail"]
    clock.advance(10)
    webhooks.run_once()
    assert len(receiver.received) == 1
    first = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert first.status_code == 202
    again = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert again.status_code == 409  # the first replay is still on its way
    assert webhooks.run_once() == 1 and len(receiver.received) == 2


def test_a_delivery_cancelled_while_its_attempt_is_out_stays_cancelled(database, clock, receivers):
    """The attempt's result is written only while the delivery is still pending under this attempt's
    lease: deleting its endpoint meanwhile cancels it, and the failed answer that comes back after
    neither fails it nor schedules a retry."""
    import threading

    from gateway.core.retry import RetryPolicy
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    hooks = Webhooks(db.sessions(database), clock, timeout=30.0, retry=RetryPolicy(max_attempts=1), cache_seconds=0.0,
                     allowed_hosts=["127.0.0.1"])
    try:
        receiver = receivers(fail=1)
        endpoint = hooks.create_endpoint(receiver.url, ["contact.opted_out"])
        hooks.emit("contact.opted_out", {"number": TO})
        [pending] = hooks.deliveries()
        with receiver.got:  # the receiver cannot answer until the endpoint is deleted
            attempt = threading.Thread(target=hooks.run_once)
            attempt.start()
            wait_until(lambda: parse_time(hooks.delivery(pending["id"])["next_attempt_at"]) > clock.now(),
                       what="the attempt's lease")
            assert hooks.delete_endpoint(endpoint["id"])
        attempt.join(30)
        assert receiver.hits == 1
        delivery = hooks.delivery(pending["id"])
        assert delivery["status"] == "cancelled" and delivery["last_error"] == "endpoint deleted"
        assert [a["http_status"] for a in delivery["attempt_log"]] == [500]  # the attempt is still logged
    finally:
        hooks.stop()


def test_a_sent_message_whose_report_never_comes_is_told_once_more_with_report_none(client, make_key, queue,
                                                                                     webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["message.status"])["secret"]
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "your order is ready"},
                             headers=admin.headers).json["id"]
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == message_id
    assert queue.part_submitting(claimed.part_ids[1], "sim1") is None
    queue.part_sent(claimed.part_ids[1], 9, last=True)
    assert webhooks.run_once() == 3  # queued, sending, sent
    clock.advance(queue.report_wait.total_seconds())
    assert queue.record_no_reports() == 1
    assert webhooks.run_once() == 1
    last = receiver.received[-1]["data"]
    assert (last["id"], last["status"], last["report"]) == (message_id, "sent", "none")
    assert "report" not in receiver.received[0]["data"]  # the other events are as they were
    assert queue.record_no_reports() == 0 and webhooks.run_once() == 0  # once
    assert receiver.bad_signatures == 0
