"""REST API through Flask's test client, on a real SQLite file (or the suite's PostgreSQL): sending,
bulk, validation and its field errors, bad bodies, listing with a cursor and filters, cancelling.
"""

from __future__ import annotations

import json

import pytest

from gateway.outbound.models import MessageStatus

from .api_helpers import PROBLEM, TO, count_messages, get, post


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
