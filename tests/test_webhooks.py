"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md, fails, then recovers. Backoff runs on the FakeClock: no sleeps."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from gateway.audience_models import ConsentEvent
from gateway.models import MessageStatus
from web.api.core import parse_time

TO = "+447700900123"


class Receiver:
    """An HTTP server that answers `fail` times with 500, then 200, and keeps what it got."""

    def __init__(self, secret: str = "", fail: int = 0) -> None:
        self.secret = secret
        self.fail = fail
        self.received: list[dict] = []
        self.bad_signatures = 0
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.got:
                    ok = receiver.verify(self.headers, body)
                    if not ok:
                        receiver.bad_signatures += 1
                    failing = receiver.fail > 0
                    receiver.fail -= 1
                    if ok and not failing:
                        receiver.received.append(json.loads(body))
                    receiver.got.notify_all()
                self.send_response(500 if failing else (200 if ok else 401))
                self.end_headers()
                self.wfile.write(b"nope" if failing else b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def verify(self, headers, body: bytes) -> bool:
        """The documented recipe: HMAC-SHA256 over "<timestamp>.<body>", hex, after "sha256="."""
        timestamp = headers["X-Gsmgw-Timestamp"]
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers["X-Gsmgw-Signature"], f"sha256={expected}")

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.got:
            return self.got.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
    webhooks.max_attempts = 4
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
    assert "gsmgw_webhook_attempt_failures_total 4" in metrics.splitlines()


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


class ProcessDied(BaseException):
    """Stands for kill -9 right after a commit: nothing that runs after it in the process happens."""


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
    from gateway.models import InboundPart

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


def test_dispatcher_thread_delivers_without_being_asked(webhooks, receivers):
    receiver = receivers()
    receiver.secret = webhooks.create_endpoint(receiver.url, ["contact.opted_out"])["secret"]
    webhooks.start()
    started = time.monotonic()
    webhooks.emit("contact.opted_out", {"number": TO})
    assert receiver.wait_for(1, timeout=10), "the dispatcher thread did not deliver"
    assert time.monotonic() - started < 10
