"""REST API through Flask's test client, on a real SQLite file: happy paths, auth, validation,
pagination, idempotency (also across a restart)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gateway.apikeys import keys
from gateway.consent.optin import Audience
from gateway.core.clock import FakeClock
from gateway.core.config import Config
from gateway.outbound.models import Message, MessageStatus
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.webhooks.outbox import Webhooks
from web import create_app
from web.context import WebContext

from .daemon_helpers import database_section, database_url
from .modem_helpers import wait_until

TO = "+447700900123"
PROBLEM = "application/problem+json"


def post(client, path, body, key, **headers):
    return client.post(f"/api/v1{path}", json=body, headers={**key.headers, **headers})


def get(client, path, key):
    return client.get(f"/api/v1{path}", headers=key.headers)


def count_messages(queue) -> int:
    with queue.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message))


# ---- messages ---------------------------------------------------------------------------------
def test_send_one_message_then_read_it(client, make_key, queue):
    key = make_key("send,read")
    response = post(client, "/messages", {"to": "07700 900123", "text": "Your code is 123456",
                                          "priority": "high", "expires_in": 300}, key)
    assert response.status_code == 202
    body = response.json
    assert body == {"id": body["id"], "status": "queued", "to": TO, "segments": 1, "encoding": "gsm7"}
    assert response.headers["Location"] == f"/api/v1/messages/{body['id']}"
    detail = get(client, f"/messages/{body['id']}", key).json
    assert detail["priority"] == "high" and detail["source"] == "api" and detail["expires_at"]
    assert [p["status"] for p in detail["parts"]] == ["pending"]
    assert [e["status"] for e in detail["events"]] == ["queued"]


def test_long_unicode_message_counts_parts(client, make_key):
    response = post(client, "/messages", {"to": TO, "text": "Привет " * 20}, make_key())
    assert response.status_code == 202
    assert response.json["encoding"] == "ucs2" and response.json["segments"] == 3


def test_bulk_queues_every_message_in_order(client, make_key, queue):
    items = [{"to": f"+4477009001{i:02d}", "text": f"reminder {i}"} for i in range(25)]
    response = post(client, "/messages", {"messages": items}, make_key())
    assert response.status_code == 202
    accepted = response.json["messages"]
    assert [m["to"] for m in accepted] == [i["to"] for i in items]
    assert len({m["id"] for m in accepted}) == 25 == count_messages(queue)


def test_bulk_is_all_or_nothing_and_names_every_bad_item_and_field_in_one_answer(client, make_key, queue):
    items = [{"to": TO, "text": "fine"}, {"to": "12", "text": "bad number"}, {"to": TO, "text": ""},
             {"to": TO, "text": "x", "colour": "red"}, {"to": "nope", "text": 5, "priority": "urgent"},
             {"to": "+44770", "text": "x", "sim": "sim9", "callback_url": "ftp://x"},
             {"to": "13", "template": "no-such-template"}, "not an object"]
    response = post(client, "/messages", {"messages": items}, make_key())
    assert response.status_code == 422
    errors = [e["field"] for e in response.json["errors"]]
    # schema errors and the number, SIM, URL and template checks together, in item order
    assert errors == ["messages[1].to", "messages[2].text", "messages[3].colour", "messages[4].priority",
                      "messages[4].text", "messages[4].to", "messages[5].callback_url", "messages[5].sim",
                      "messages[5].to", "messages[6].template", "messages[6].to", "messages[7]"], errors
    assert response.json["detail"].startswith("messages[1].to: ") and "(and 11 more)" in response.json["detail"]
    assert count_messages(queue) == 0


def test_a_bulk_answer_names_every_bad_item_beyond_fifty(client, make_key, queue):
    items = [{"to": f"nope{i}", "text": "x"} for i in range(120)] + [{"to": TO, "text": "x", "kind": "promo"}]
    errors = post(client, "/messages", {"messages": items}, make_key()).json["errors"]
    assert [e["field"] for e in errors] == [f"messages[{i}].to" for i in range(120)] + ["messages[120].kind"]
    assert count_messages(queue) == 0


def test_bulk_over_1000_is_refused(client, make_key):
    items = [{"to": TO, "text": "x"}] * 1001
    response = post(client, "/messages", {"messages": items}, make_key())
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "messages", "message": "must have at most 1000 items"}]


@pytest.mark.parametrize("body, field, message", [
    ({"to": "not a number", "text": "hi"}, "to", "is not a phone number"),
    ({"to": "+44770", "text": "hi"}, "to", "wrong number of digits"),
    ({"to": TO, "text": ""}, "text", "must not be empty"),
    ({"to": TO}, "text", "give either text or template"),
    ({"to": TO, "text": "a", "template": "otp"}, "text", "give either text or template"),
    ({"to": TO, "text": "a", "variables": {"x": "y"}}, "variables", "only with a template"),
    ({"to": TO, "text": "hi", "colour": "red"}, "colour", "unknown field"),
    ({"to": TO, "text": "hi", "priority": "urgent"}, "priority", "must be one of high, normal, bulk"),
    ({"to": TO, "text": "hi", "expires_in": 0}, "expires_in", "must be more than 0"),
    ({"to": TO, "text": "hi", "expires_in": 1e300}, "expires_in", "must be at most"),
    ({"to": TO, "text": "hi", "sim": "sim9"}, "sim", "no such SIM"),
    ({"to": TO, "text": "hi", "callback_url": "ftp://x"}, "callback_url", "http:// or https://"),
    ({"to": TO, "text": "x" * 1601}, "text", "at most 1600"),
    ({"to": 447700900123, "text": "hi"}, "to", "must be a string"),
    ([{"to": TO, "text": "hi"}], "(body)", "must be an object"),
])
def test_validation_errors_name_the_field(client, make_key, queue, body, field, message):
    response = post(client, "/messages", body, make_key())
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    problem = response.json
    assert problem["status"] == 422 and problem["title"] and problem["type"].startswith("urn:gsmgw:problem:")
    assert any(e["field"] == field and message in e["message"] for e in problem["errors"]), problem
    assert count_messages(queue) == 0


def test_unknown_fields_named_with_digits_of_other_scripts_are_each_named(client, make_key, queue):
    """Field errors are sorted with their numbers compared as numbers; a superscript or another
    script's digit in a field's name is a name, never a number to read (it was a 500)."""
    body = {"to": TO, "text": "hi", "\u00b9": 1, "a\u00b2b": 2, "\u0663": 3, "x10": 4, "x9": 5}
    response = post(client, "/messages", body, make_key())
    assert response.status_code == 422, response.json
    named = [e["field"] for e in response.json["errors"] if "unknown field" in e["message"]]
    assert sorted(named) == sorted(["\u00b9", "a\u00b2b", "\u0663", "x10", "x9"])
    assert named.index("x9") < named.index("x10")
    assert count_messages(queue) == 0


def test_sim_pin_must_name_a_known_sim(client, make_key, modem_list):
    modem_list.append({"name": "sim1", "state": "ready", "limits": {}})
    response = post(client, "/messages", {"to": TO, "text": "hi", "sim": "sim1"}, make_key())
    assert response.status_code == 202


@pytest.mark.parametrize("data, content_type, status", [
    ("{", "application/json", 400),
    ('{"to": NaN}', "application/json", 400),
    ('{"expires_in": 1e999}', "application/json", 400),
    ("[" * 100_000, "application/json", 400),
    ("to=1&text=hi", "application/x-www-form-urlencoded", 415),
    ('{"to": "+447700900123", "text": "hi"}', "text/plain", 415),
    ('{"to": "+447700900123", "text": "hi"}', None, 415),
])
def test_bad_bodies_get_a_precise_4xx(client, make_key, data, content_type, status):
    headers = {**make_key().headers}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/api/v1/messages", data=data, headers=headers)
    assert response.status_code == status
    assert response.mimetype == PROBLEM and response.json["status"] == status


def test_oversized_body_is_413(client, make_key, app):
    big = json.dumps({"to": TO, "text": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    response = client.post("/api/v1/messages", data=big, headers={**make_key().headers, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.mimetype == PROBLEM


def test_unknown_route_and_wrong_method_are_problems(client, make_key):
    response = get(client, "/nothing-here", make_key())
    assert response.status_code == 404 and response.mimetype == PROBLEM
    response = client.put("/api/v1/messages", headers=make_key().headers)
    assert response.status_code == 405 and response.mimetype == PROBLEM and "POST" in response.headers["Allow"]


def test_get_missing_message_is_404(client, make_key):
    assert get(client, "/messages/999", make_key()).status_code == 404
    assert get(client, f"/messages/{2**70}", make_key()).status_code == 404


def test_list_pages_through_everything_with_a_cursor(client, make_key, queue):
    key = make_key()
    ids = [queue.enqueue(TO, f"m{i}").id for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        path = "/messages?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = get(client, path, key).json
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3


def test_list_filters_by_status_since_and_number(client, make_key, queue, clock):
    key = make_key()
    first = queue.enqueue(TO, "old").id
    clock.advance(60)
    second = queue.enqueue("+447700900999", "new").id
    queue.cancel(second)
    assert [m["id"] for m in get(client, "/messages?status=cancelled", key).json["items"]] == [second]
    assert [m["id"] for m in get(client, "/messages?status=queued", key).json["items"]] == [first]
    since = clock.now().isoformat().replace("+00:00", "Z")
    assert [m["id"] for m in get(client, f"/messages?since={since}", key).json["items"]] == [second]
    assert [m["id"] for m in get(client, "/messages?to=07700900123", key).json["items"]] == [first]


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=5000", "limit"), ("status=lost", "status"),
    ("since=yesterday", "since"), ("cursor=zzz", "cursor"), ("colour=red", "colour"), ("limit=1&limit=2", "limit"),
])
def test_list_rejects_bad_query_parameters(client, make_key, query, field):
    response = get(client, f"/messages?{query}", make_key())
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_cancel_a_queued_message_but_not_a_sent_one(client, make_key, queue):
    key = make_key()
    queued = queue.enqueue(TO, "cancel me").id
    response = client.delete(f"/api/v1/messages/{queued}", headers=key.headers)
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert client.delete(f"/api/v1/messages/{queued}", headers=key.headers).status_code == 200
    sent = queue.enqueue(TO, "too late").id
    queue.finish(sent, MessageStatus.SENT)
    assert client.delete(f"/api/v1/messages/{sent}", headers=key.headers).status_code == 409
    assert client.delete("/api/v1/messages/12345", headers=key.headers).status_code == 404


# ---- auth -------------------------------------------------------------------------------------
def test_no_key_wrong_key_revoked_key_are_401(client, make_key, database, clock):
    assert client.get("/api/v1/messages").status_code == 401
    assert client.get("/api/v1/messages", headers={"Authorization": "Bearer gsk_wrong"}).status_code == 401
    assert client.get("/api/v1/messages", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    key = make_key("read")
    assert get(client, "/messages", key).status_code == 200
    keys.revoke(db.sessions(database), clock, key.id)
    response = get(client, "/messages", key)
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("scopes, method, path, body, allowed", [
    ("read", "POST", "/messages", {"to": TO, "text": "hi"}, False),
    ("send", "POST", "/messages", {"to": TO, "text": "hi"}, True),
    ("send", "GET", "/messages", None, False),
    ("read", "GET", "/inbound", None, True),
    ("send,read", "GET", "/keys", None, False),
    ("send,read", "POST", "/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["message.status"]}, False),
    ("admin", "POST", "/messages", {"to": TO, "text": "hi"}, True),
    ("admin", "GET", "/keys", None, True),
])
def test_scopes_are_enforced_per_endpoint(client, make_key, scopes, method, path, body, allowed):
    response = client.open(f"/api/v1{path}", method=method, json=body, headers=make_key(scopes).headers)
    assert (response.status_code < 300) is allowed, response.json
    if not allowed:
        assert response.status_code == 403 and response.mimetype == PROBLEM


def test_failed_auth_is_throttled_per_address_and_key_never_for_a_valid_key(client, make_key, clock):
    good = make_key("read")
    bad = {"Authorization": "Bearer gsk_guess"}
    for _ in range(10):
        assert client.get("/api/v1/messages", headers=bad).status_code == 401
    response = client.get("/api/v1/messages", headers=bad)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    # the POS's valid key on the same address is never held off by someone else's wrong key
    assert get(client, "/messages", good).status_code == 200
    # nor is another wrong key (a typo elsewhere), nor the same wrong key from another address
    assert client.get("/api/v1/messages", headers={"Authorization": "Bearer gsk_typo1234"}).status_code == 401
    other = client.get("/api/v1/messages", headers=bad, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 401
    clock.advance(61)
    assert client.get("/api/v1/messages", headers=bad).status_code == 401


def test_fresh_guesses_from_one_address_are_held_off_too_but_not_its_valid_key(client, make_key):
    good = make_key("read")
    answers = [client.get("/api/v1/messages", headers={"Authorization": f"Bearer gsk_{i:08d}xyz"}).status_code
               for i in range(101)]
    assert answers[:100] == [401] * 100 and answers[100] == 429
    assert get(client, "/messages", good).status_code == 200


def test_health_needs_no_key_and_says_fail_with_503(client, modem_list):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.json["status"] == "warn"  # no modems
    modem_list[:] = [{"name": "sim1", "state": "ready", "signal": {"bars": 4}, "limits": {}}]
    assert client.get("/api/v1/health").json["status"] == "pass"
    modem_list.append({"name": "sim2", "state": "hung", "reason": "no answer", "limits": {}})
    response = client.get("/api/v1/health")
    assert response.status_code == 503 and response.json["status"] == "fail"
    assert response.json["checks"]["modems"][1] == {"name": "sim2", "status": "fail", "detail": "hung: no answer"}
    assert response.json["checks"]["database"]["status"] == "pass"


# ---- idempotency ------------------------------------------------------------------------------
def test_idempotency_key_returns_the_first_response(client, make_key, queue):
    key = make_key()
    body = {"to": TO, "text": "order 42 confirmed"}
    first = post(client, "/messages", body, key, **{"Idempotency-Key": "order-42"})
    again = post(client, "/messages", body, key, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert count_messages(queue) == 1
    other = post(client, "/messages", body, key, **{"Idempotency-Key": "order-43"})
    assert other.json["id"] != first.json["id"]
    # another key's Idempotency-Key space is its own
    assert post(client, "/messages", body, make_key(), **{"Idempotency-Key": "order-42"}).json["id"] != first.json["id"]


def test_idempotency_key_with_a_different_body_is_refused(client, make_key, queue):
    key = make_key()
    post(client, "/messages", {"to": TO, "text": "a"}, key, **{"Idempotency-Key": "k1"})
    response = post(client, "/messages", {"to": TO, "text": "b"}, key, **{"Idempotency-Key": "k1"})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "Idempotency-Key"
    assert count_messages(queue) == 1


def test_idempotency_survives_a_restart(tmp_path, clock):
    url = database_url(tmp_path)

    def boot():
        engine = db.make_engine(url)
        db.upgrade(engine)
        sessions = db.sessions(engine)
        queue = Queue(sessions, clock)
        context = WebContext(queue=queue, sessions=sessions, clock=clock, config=Config(),
                             webhooks=Webhooks(sessions, clock), audience=Audience(sessions, clock, queue))
        return engine, queue, create_app(context).test_client()

    engine, queue, client = boot()
    new = keys.create(queue.sessions, clock, "pos", "send")
    headers = {"Authorization": f"Bearer {new.token}", "Idempotency-Key": "booking-7"}
    first = client.post("/api/v1/messages", json={"to": TO, "text": "See you at 10"}, headers=headers)
    engine.dispose()

    engine, queue, client = boot()
    again = client.post("/api/v1/messages", json={"to": TO, "text": "See you at 10"}, headers=headers)
    assert again.status_code == 202 and again.json == first.json
    assert count_messages(queue) == 1
    engine.dispose()


def test_idempotency_key_expires_after_a_day(client, make_key, queue, clock):
    key = make_key()
    body = {"to": TO, "text": "hi"}
    first = post(client, "/messages", body, key, **{"Idempotency-Key": "k"}).json["id"]
    clock.advance(86400 + 1)
    assert post(client, "/messages", body, key, **{"Idempotency-Key": "k"}).json["id"] != first


def test_bad_request_is_not_stored_under_the_idempotency_key_as_a_success(client, make_key, queue):
    """Sent again with its key, a refused request is refused again (never answered as if queued),
    and the key stays bound to that request: a different body under it is refused, not sent."""
    key = make_key()
    body = {"to": "12", "text": "hi"}
    bad = post(client, "/messages", body, key, **{"Idempotency-Key": "x"})
    assert bad.status_code == 422
    again = post(client, "/messages", body, key, **{"Idempotency-Key": "x"})
    assert again.status_code == 422 and again.json == bad.json
    other = post(client, "/messages", {"to": TO, "text": "hi"}, key, **{"Idempotency-Key": "x"})
    assert other.status_code == 422 and "different request" in other.json["detail"]
    assert count_messages(queue) == 0
    fresh = post(client, "/messages", {"to": TO, "text": "hi"}, key, **{"Idempotency-Key": "y"})
    assert fresh.status_code == 202 and count_messages(queue) == 1


# ---- the rest ---------------------------------------------------------------------------------
def test_segments(client, make_key):
    key = make_key("read")
    response = post(client, "/segments", {"text": "a" * 161}, key)
    assert response.json == {"encoding": "gsm7", "parts": 2, "characters": 161, "units": 161, "per_part": 153,
                             "characters_left": 145, "sendable": True}
    assert post(client, "/segments", {"text": "€"}, key).json["units"] == 2  # the euro sign is an escape
    assert post(client, "/segments", {"text": "ü😀"}, key).json["encoding"] == "ucs2"
    assert post(client, "/segments", {}, key).status_code == 422


def test_modems_list_and_one(daemon_factory, clock):
    """/modems over HTTP from the running daemon: each modem's state, network, identity and the use
    of its send limits, counted from what it really sent."""
    import urllib.error
    import urllib.request

    daemon = daemon_factory(1, modems=[{"name": "limits", "port": "unused", "limits": {"per_minute": 6}}])
    new = keys.create(daemon.queue.sessions, clock, "t", "read")
    message = daemon.queue.enqueue(TO, "counted")
    wait_until(lambda: daemon.queue.get(message.id).status in ("sent", "delivered"), 10, "the message sent")

    def fetch(path: str) -> tuple[int, dict]:
        request = urllib.request.Request(daemon.api_url() + path, headers={"Authorization": f"Bearer {new.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, listing = fetch("/modems")
    assert status == 200
    (modem,) = listing["items"]
    supervisor = daemon.supervisors[0]
    assert (modem["name"], modem["state"], modem["reason"]) == ("sim1", "ready", None)
    assert modem["operator"] == "Virtual Tel" and modem["registration"] == "home"
    assert modem["signal"]["csq"] == supervisor.health.signal.csq and 0 <= modem["signal"]["bars"] <= 5
    assert modem["identity"]["imei"] == daemon.simulator.ports["sim1"].modem.imei
    assert modem["identity"]["iccid"] == supervisor.identity.iccid
    assert modem["limits"]["minute"] == {"used": 1, "left": 5, "cap": 6}
    assert fetch("/modems/sim1") == (200, modem)
    assert fetch("/modems/sim9")[0] == 404


def test_inbound_list_and_one(client, make_key, web_context, clock):
    from gateway.inbound.models import InboundPart

    def receive(text: str, concat=(None, None, None)) -> None:
        ref, total, seq = concat
        with web_context.sessions.begin() as session:
            part = InboundPart(modem="sim1", sender=TO, text=text, received_at=clock.now(), raw_pdu="00",
                               concat_ref=ref, concat_total=total, concat_seq=seq)
            session.add(part)
        web_context.inbound(part)

    receive("reply 0")
    receive("reply 1, in two ", (9, 2, 1))
    receive("parts", (9, 2, 2))
    receive("reply 2")
    key = make_key("read")
    page = get(client, "/inbound?limit=2", key).json
    assert [p["text"] for p in page["items"]] == ["reply 2", "reply 1, in two parts"] and page["next_cursor"]
    assert page["items"][1]["parts"] == 2 and page["items"][1]["complete"] is True
    rest = get(client, f"/inbound?limit=2&cursor={page['next_cursor']}", key).json
    assert [p["text"] for p in rest["items"]] == ["reply 0"] and rest["next_cursor"] is None
    one = get(client, f"/inbound/{page['items'][0]['id']}", key).json
    assert one["from"] == TO and one["sim"] == "sim1" and one["contact_id"] is not None
    assert get(client, "/inbound?from=07700900123", key).json["items"][0]["from"] == TO
    assert get(client, "/inbound/999", key).status_code == 404


def test_metrics_are_prometheus_text(client, make_key, queue, modem_list):
    modem_list.append({"name": "sim1", "state": "ready", "signal": {"bars": 3, "dbm": -85},
                       "limits": {"minute": {"used": 2, "left": 4, "cap": 6}}})
    queue.enqueue(TO, "hi")
    response = get(client, "/metrics", make_key("read"))
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in ('gsmgw_queue_messages{status="queued"} 1.0', 'gsmgw_modem_signal_dbm{sim="sim1"} -85.0',
                 'gsmgw_sim_limit_used{sim="sim1",window="minute"} 2.0', "gsmgw_webhook_deliveries_pending 0.0",
                 'gsmgw_modem_up{sim="sim1",state="ready"} 1.0', "gsmgw_api_auth_failures_total 0.0"):
        assert line in text.splitlines()
    assert client.get("/api/v1/metrics").status_code == 401


def test_keys_create_list_revoke_through_the_api(client, make_key):
    admin = make_key("admin")
    created = post(client, "/keys", {"name": "booking system", "scopes": ["send"]}, admin)
    assert created.status_code == 201 and created.json["token"].startswith("gsk_")
    new = {"Authorization": f"Bearer {created.json['token']}"}
    assert client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=new).status_code == 202
    listed = get(client, "/keys", admin).json["items"]
    assert all("token" not in k and "token_hash" not in k for k in listed)
    assert client.delete(f"/api/v1/keys/{created.json['id']}", headers=admin.headers).json["revoked_at"]
    assert client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=new).status_code == 401
    assert post(client, "/keys", {"name": "x", "scopes": ["root"]}, admin).status_code == 422
    assert client.delete("/api/v1/keys/999", headers=admin.headers).status_code == 404


def test_keys_are_stored_hashed(database, clock):
    new = keys.create(db.sessions(database), clock, "shop", "send")
    with database.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM api_keys"))
    assert new.token not in dump and keys.hash_token(new.token) in dump
    assert new.token[:12] in dump  # the display prefix


def test_apikey_cli_create_list_revoke(tmp_path, capsys):
    from gateway.cli.main import main

    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    assert main(["apikey", "create", "--config", str(config), "--name", "shop", "--scopes", "send,read"]) == 0
    out = capsys.readouterr().out
    token = next(w for w in out.split() if w.startswith("gsk_"))
    assert main(["apikey", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "shop" in listing and token not in listing and "active" in listing
    assert main(["apikey", "revoke", "1", "--config", str(config)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["apikey", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked_at"]
    assert main(["apikey", "create", "--config", str(config), "--name", "x", "--scopes", "root"]) == 2
    assert main(["apikey", "revoke", "7", "--config", str(config)]) == 1


def test_apikey_cli_scopes_gives_an_existing_key_the_contacts_scope(tmp_path, capsys):
    """How a till's key from before the `contacts` scope gets it back, without a new token."""
    from gateway.cli.main import main

    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    assert main(["apikey", "create", "--config", str(config), "--name", "till", "--scopes", "send"]) == 0
    capsys.readouterr()
    assert main(["apikey", "scopes", "1", "send,contacts", "--config", str(config)]) == 0
    assert "scopes contacts,send" in capsys.readouterr().out
    assert main(["apikey", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["scopes"] == ["contacts", "send"]
    assert main(["apikey", "scopes", "1", "root", "--config", str(config)]) == 2
    assert main(["apikey", "scopes", "9", "send", "--config", str(config)]) == 1


def test_real_waitress_server_in_the_daemon(tmp_path):
    """The daemon's hook serves the app with waitress on web.listen, and stops it."""
    import urllib.request

    from gateway.core import config as config_module
    from gateway.daemon import Daemon

    cfg = config_module.from_dict({"gateway": {"data_dir": str(tmp_path)}, "web": {"listen": "127.0.0.1:0"},
                                   **database_section()})
    daemon = Daemon(cfg, clock=FakeClock())
    daemon.start()
    try:
        port = daemon.web_server.effective_port
        new = keys.create(daemon.queue.sessions, daemon.clock, "t", "send,read")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/messages", method="POST",
            data=json.dumps({"to": TO, "text": "over real HTTP"}).encode(),
            headers={"Authorization": f"Bearer {new.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
            assert json.loads(response.read())["status"] == "queued"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as response:
            assert json.loads(response.read())["checks"]["database"]["status"] == "pass"
    finally:
        daemon.stop()
    assert daemon.web_server is None


def test_a_bare_port_listens_on_this_machine_only_and_the_start_up_line_says_where(tmp_path, caplog):
    from gateway.core import config as config_module
    from gateway.daemon import Daemon

    cfg = config_module.from_dict({"gateway": {"data_dir": str(tmp_path)}, "web": {"listen": "0"}, **database_section()})
    daemon = Daemon(cfg, clock=FakeClock())
    with caplog.at_level("INFO", logger="gsmgw"):
        daemon.start()
    try:
        host, port = daemon.web_server.socket.getsockname()[:2]
        assert host == "127.0.0.1"
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("REST API on"))
        assert f"http://127.0.0.1:{port}/api/v1" in line and "this machine only" in line
    finally:
        daemon.stop()


@pytest.mark.parametrize(("listen", "address"), [
    ("8080", ("127.0.0.1", 8080)), ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:9000", ("::1", 9000)),
    ("box.lan:80", ("box.lan", 80))])
def test_listen_is_bound_as_written(listen, address):
    from gateway.core import config as config_module

    assert config_module.from_dict({"web": {"listen": listen}}).web.address == address


@pytest.mark.parametrize(("listen", "message"), [(":8080", "has no host"), ("::1:80", "brackets"),
                                                 ("127.0.0.1:http", "port must be a number"), ("99999", "0 to 65535")])
def test_a_listen_without_a_clear_address_is_refused_at_load(listen, message):
    from gateway.core import config as config_module

    with pytest.raises(config_module.ConfigError, match=message) as info:
        config_module.from_dict({"web": {"listen": listen}}, source="gsmgw.toml")
    assert "web.listen" in str(info.value)


def test_schema_validators_are_made_once_per_declared_schema_not_per_request(app, client, make_key):
    key = make_key("read,admin")
    api = app.extensions["gsmgw"]["api"]
    paths = ["/messages?limit=5", "/inbound?limit=5", "/contacts?limit=5", "/webhooks/deliveries?limit=5",
             "/messages?status=queued", "/groups?limit=3"]
    keep = []  # hold on to the answers, so nothing freed can hand its address to a new schema
    for path in paths:
        keep.append(get(client, path, key))
    made = len(api._validators)
    for _ in range(30):
        for path in paths:
            keep.append(get(client, path, key))
            assert keep[-1].status_code == 200, keep[-1].json
    assert len(api._validators) == made


def test_a_template_to_a_contact_whose_name_is_only_spaces_is_a_422_not_a_500(client, make_key, queue):
    admin = make_key("admin")
    assert post(client, "/templates", {"name": "hi", "body": "Hi {first_name}!"}, admin).status_code == 201
    assert post(client, "/contacts", {"number": TO, "name": "   "}, admin).status_code == 201
    response = post(client, "/messages", {"to": TO, "template": "hi"}, admin)
    assert response.status_code == 422, response.json
    assert response.json["errors"] == [{"field": "variables", "message": "no value for {first_name}"}]
    sent = post(client, "/messages", {"to": TO, "template": "hi", "variables": {"first_name": "there"}}, admin)
    assert sent.status_code == 202 and queue.get(sent.json["id"]).text == "Hi there!"
