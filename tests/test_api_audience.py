"""The audience part of the REST API: contacts, groups, consent, keywords — through the Flask test
client, a real SQLite file, the real Audience and inbound pipeline."""

from __future__ import annotations

import threading

from sqlalchemy import event, select

from gateway.inbound.models import InboundPart
from gateway.outbound.models import Message

TO = "+447700900123"
OTHER = "+447700900124"


def call(client, method: str, path: str, key, body=None):
    return client.open(f"/api/v1{path}", method=method, json=body, headers=key.headers)


def test_contacts_create_read_update_list(client, make_key):
    key = make_key("contacts,read")
    made = call(client, "POST", "/contacts", key, {"number": "07700 900123", "name": "Amira", "language": "ar",
                                                    "birthday": "1990-05-01", "tags": ["vip"], "fields": {"size": 42}})
    assert made.status_code == 201, made.json
    contact = made.json
    assert (contact["number"], contact["consent"], contact["tags"], contact["fields"]) == (TO, "none", ["vip"], {"size": 42})
    assert call(client, "POST", "/contacts", key, {"number": TO}).status_code == 409
    changed = call(client, "PATCH", f"/contacts/{contact['id']}", key, {"name": "Amira K.", "tags": ["vip", "shoes"],
                                                                        "timezone": "Asia/Dubai"})
    assert changed.status_code == 200 and changed.json["tags"] == ["shoes", "vip"]
    assert changed.json["timezone"] == "Asia/Dubai"
    call(client, "POST", "/contacts", key, {"number": OTHER, "name": "Boris"})
    call(client, "POST", "/contacts", key, {"number": "+447700900125", "name": "Chen"})
    page = call(client, "GET", "/contacts?limit=2", key).json
    assert [c["name"] for c in page["items"]] == ["Chen", "Boris"] and page["next_cursor"]
    rest = call(client, "GET", f"/contacts?limit=2&cursor={page['next_cursor']}", key).json
    assert [c["name"] for c in rest["items"]] == ["Amira K."] and rest["next_cursor"] is None
    assert [c["name"] for c in call(client, "GET", "/contacts?tag=shoes", key).json["items"]] == ["Amira K."]
    assert [c["name"] for c in call(client, "GET", "/contacts?q=bor", key).json["items"]] == ["Boris"]
    assert call(client, "GET", f"/contacts/{contact['id']}", key).json["groups"] == []
    assert call(client, "GET", "/contacts/99999", key).status_code == 404


def test_the_same_new_contact_posted_twice_at_once_is_made_once_and_the_other_is_told(client, make_key, database):
    key = make_key("contacts")
    answers: list[int] = []
    second = threading.Thread(target=lambda: answers.append(call(client, "POST", "/contacts", key, {"number": TO}).status_code))

    def between(conn, cursor, statement, *args) -> None:  # the first request has checked, and writes now
        if statement.lstrip().startswith("INSERT INTO contacts") and not second.is_alive() and not answers:
            second.start()
            second.join(0.5)  # were the check and the write apart, the second would check now

    event.listen(database, "before_cursor_execute", between)
    try:
        answers.append(call(client, "POST", "/contacts", key, {"number": TO}).status_code)
        second.join(30)
    finally:
        event.remove(database, "before_cursor_execute", between)
    assert sorted(answers) == [201, 409]


def test_contact_input_errors_are_precise(client, make_key):
    key = make_key("contacts")
    cases = [({"number": "12"}, "number"), ({"number": TO, "colour": "red"}, "colour"),
             ({"number": TO, "birthday": "1990-13-45"}, "birthday"), ({"number": TO, "timezone": "Mars/Base"}, "timezone"),
             ({"name": "no number"}, "number")]
    for body, field in cases:
        response = call(client, "POST", "/contacts", key, body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["errors"][0]["field"] == field, (body, response.json)


def test_scopes_are_enforced(client, make_key):
    reader, sender = make_key("read"), make_key("send")
    assert call(client, "POST", "/contacts", reader, {"number": TO}).status_code == 403
    assert call(client, "POST", "/contacts", sender, {"number": TO}).status_code == 403
    assert call(client, "POST", "/consent/opt-out", reader, {"number": TO}).status_code == 403
    assert call(client, "POST", "/keywords", sender, {"word": "FASHION", "action": "reply", "reply": "Hi"}).status_code == 403
    assert client.get("/api/v1/contacts").status_code == 401


def test_audience_changes_need_the_contacts_scope_and_send_only_sends(client, make_key):
    """A till's `send` key queues messages; erasing customers or deleting groups is not sending."""
    manager, till = make_key("contacts,read"), make_key("send,read")
    contact = call(client, "POST", "/contacts", manager, {"number": TO, "name": "Olga"}).json
    group = call(client, "POST", "/groups", manager, {"name": "vip"}).json
    call(client, "POST", f"/groups/{group['id']}/members", manager, {"numbers": [TO]})
    writes = [("POST", "/contacts", {"number": OTHER}), ("PATCH", f"/contacts/{contact['id']}", {"name": "x"}),
              ("DELETE", f"/contacts/{contact['id']}", None), ("POST", "/groups", {"name": "new"}),
              ("DELETE", f"/groups/{group['id']}", None),
              ("POST", f"/groups/{group['id']}/members", {"numbers": [OTHER]}),
              ("DELETE", f"/groups/{group['id']}/members/{contact['id']}", None)]
    for method, path, body in writes:
        answer = call(client, method, path, till, body)
        assert answer.status_code == 403 and "contacts" in answer.json["detail"], (method, path, answer.json)
    assert call(client, "GET", f"/contacts/{contact['id']}", till).json["name"] == "Olga"  # nothing changed
    assert call(client, "GET", f"/groups/{group['id']}", till).json["members"] == 1
    assert call(client, "POST", "/messages", till, {"to": TO, "text": "Your order is ready"}).status_code == 202
    assert call(client, "POST", "/messages", manager, {"to": TO, "text": "hi"}).status_code == 403
    assert call(client, "DELETE", f"/groups/{group['id']}", manager).status_code == 204


def test_groups_and_members(client, make_key):
    key = make_key("contacts,read")
    group = call(client, "POST", "/groups", key, {"name": "fashion"}).json
    assert call(client, "POST", "/groups", key, {"name": "fashion"}).status_code == 409
    bad = call(client, "POST", f"/groups/{group['id']}/members", key, {"numbers": [TO, "nope"]})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "numbers[1]"
    added = call(client, "POST", f"/groups/{group['id']}/members", key, {"numbers": [TO, "07700 900124", TO]})
    assert added.json == {"added": 2, "already": 0}
    assert call(client, "POST", f"/groups/{group['id']}/members", key, {"numbers": [TO]}).json == {"added": 0, "already": 1}
    assert call(client, "GET", f"/groups/{group['id']}", key).json["members"] == 2
    members = call(client, "GET", "/contacts?group=fashion", key).json["items"]
    assert sorted(c["number"] for c in members) == [TO, OTHER]
    assert all(c["consent"] == "none" for c in members)  # joining a list by API is not consent
    assert call(client, "DELETE", f"/groups/{group['id']}/members/{members[0]['id']}", key).status_code == 204
    assert call(client, "DELETE", f"/groups/{group['id']}/members/{members[0]['id']}", key).status_code == 404
    assert call(client, "DELETE", f"/groups/{group['id']}", key).status_code == 204
    assert call(client, "GET", f"/groups/{group['id']}", key).status_code == 404
    assert len(call(client, "GET", "/contacts", key).json["items"]) == 2  # the contacts stay


def test_opt_out_by_api_suppresses_marketing_queued_before(client, make_key, queue, web_context):
    key = make_key("send,read")
    assert call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "web_form",
                                                         "detail": "checkout form"}).status_code == 201
    promo = queue.enqueue(TO, "20% off today", kind="marketing")
    out = call(client, "POST", "/consent/opt-out", key, {"number": "07700 900123", "detail": "asked at the till"})
    assert out.status_code == 201 and out.json["contact"]["consent"] == "opted_out"
    claimed = queue.claim("sim1")
    assert claimed.id == promo.id
    from gateway.consent.send_check import ConsentCheck, rules_from

    verdict = ConsentCheck(queue.sessions, web_context.clock, rules_from(web_context.config.consent))(claimed)
    assert verdict.action == "suppress"
    history = call(client, "GET", "/consent?number=07700900123", key).json
    assert history["consent"] == "opted_out"
    assert [(e["kind"], e["source"]) for e in history["events"]] == [("opt_in", "web_form"), ("opt_out", "api")]
    opt_outs = call(client, "GET", "/opt-outs", key).json["items"]
    assert [(o["number"], o["detail"]) for o in opt_outs] == [(TO, "asked at the till")]
    assert call(client, "GET", "/consent", key).json["errors"][0]["field"] == "number"
    assert call(client, "GET", f"/consent?number={OTHER}", key).status_code == 404
    assert call(client, "POST", "/consent/opt-out", key, {"number": TO, "source": "keyword"}).status_code == 422
    assert [c["number"] for c in call(client, "GET", "/contacts?consent=opted_out", key).json["items"]] == [TO]
    assert call(client, "GET", "/contacts?consent=opted_in", key).json["items"] == []


def test_erasing_a_contact_keeps_them_suppressed(client, make_key, queue):
    key = make_key("send,contacts,read")
    contact = call(client, "POST", "/contacts", key, {"number": TO, "name": "Olga", "fields": {"city": "Omsk"}}).json
    call(client, "POST", "/consent/opt-in", key, {"number": TO})
    assert call(client, "DELETE", f"/contacts/{contact['id']}", key).status_code == 204
    erased = call(client, "GET", f"/contacts/{contact['id']}", key).json
    assert (erased["name"], erased["fields"], erased["consent"]) == (None, {}, "opted_out")
    # a later import or sign-up by someone else does not undo it silently: the ledger shows why
    assert erased["consent_history"][-1]["detail"] == "personal data erased on request"


def test_keywords_configure_the_running_pipeline(client, make_key, web_context, clock, queue):
    from gateway.consent import keyword_store

    with web_context.sessions.begin() as session:
        keyword_store.seed_defaults(session, clock.now())  # as the daemon does at start
    admin = make_key("admin,read")
    made = call(client, "POST", "/keywords", admin, {"word": "Fashion", "action": "join", "group": "fashion",
                                                      "reply": "Welcome to our fashion list!"})
    assert made.status_code == 201, made.json
    assert call(client, "POST", "/keywords", admin, {"word": "FASHION!", "action": "reply", "reply": "x"}).status_code == 409
    assert call(client, "POST", "/keywords", admin, {"word": "VIP", "action": "join"}).status_code == 422  # no group
    with web_context.sessions.begin() as session:
        part = InboundPart(modem="sim1", sender=TO, text=" fashion! ", received_at=clock.now(), raw_pdu="00")
        session.add(part)
    web_context.inbound(part)
    member = call(client, "GET", "/contacts?group=fashion", admin).json["items"]
    assert [c["number"] for c in member] == [TO]
    with queue.sessions() as session:
        texts = session.scalars(select(Message.text).where(Message.to_number == TO)).all()
    assert texts == ["Welcome to our fashion list!"]
    stop = next(k for k in call(client, "GET", "/keywords?limit=1000", admin).json["items"] if k["label"] == "STOP")
    assert call(client, "PATCH", f"/keywords/{stop['id']}", admin, {"enabled": False}).status_code == 409
    assert call(client, "DELETE", f"/keywords/{stop['id']}", admin).status_code == 409
    assert call(client, "DELETE", f"/keywords/{made.json['id']}", admin).status_code == 204
    assert call(client, "GET", f"/keywords/{made.json['id']}", admin).status_code == 404


def test_templates_and_sending_from_one(client, make_key, queue):
    admin = make_key("admin,send,read")
    assert call(client, "POST", "/templates", admin, {"name": "bad", "body": "Hi {name.upper}"}).status_code == 422
    made = call(client, "POST", "/templates", admin, {"name": "table-ready", "kind": "transactional",
                                                       "body": "Hi {first_name}, table for {people} is ready {{today}}"})
    assert made.status_code == 201 and made.json["placeholders"] == ["first_name", "people"]
    assert call(client, "POST", "/templates", admin, {"name": "table-ready", "body": "x"}).status_code == 409
    call(client, "POST", "/contacts", admin, {"number": TO, "name": "Amira Khalil"})
    sent = call(client, "POST", "/messages", admin, {"to": TO, "template": "table-ready", "variables": {"people": 4}})
    assert sent.status_code == 202, sent.json
    assert queue.get(sent.json["id"]).text == "Hi Amira, table for 4 is ready {today}"
    missing = call(client, "POST", "/messages", admin, {"to": OTHER, "template": "table-ready"})
    assert missing.status_code == 422
    assert missing.json["errors"] == [{"field": "variables", "message": "no value for {first_name}, {people}"}]
    unknown = call(client, "POST", "/messages", admin, {"messages": [{"to": TO, "text": "ok"},
                                                                     {"to": TO, "template": "nope"}]})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "messages[1].template"
    promo = call(client, "POST", "/templates", admin, {"name": "promo", "kind": "marketing", "body": "20% off, {first_name}"})
    sent = call(client, "POST", "/messages", admin, {"to": TO, "template": "promo"})
    assert queue.get(sent.json["id"]).kind == "marketing"  # the template's kind is the default
    changed = call(client, "PATCH", f"/templates/{promo.json['id']}", admin, {"body": "25% off, {first_name}"})
    assert changed.json["body"] == "25% off, {first_name}"
    page = call(client, "GET", "/templates?limit=1", admin).json
    assert [t["name"] for t in page["items"]] == ["promo"] and page["next_cursor"]
    assert call(client, "DELETE", f"/templates/{promo.json['id']}", admin).status_code == 204
    assert call(client, "GET", f"/templates/{promo.json['id']}", admin).status_code == 404
    assert call(client, "POST", "/templates", make_key("send"), {"name": "x", "body": "y"}).status_code == 403


def test_a_marketing_template_cannot_be_sent_as_transactional(client, make_key, queue):
    """Sending as transactional skips consent, the frequency cap and quiet hours: a request may not
    downgrade a marketing template. A transactional template or a plain text stays transactional."""
    admin = make_key("admin,read")
    call(client, "POST", "/templates", admin, {"name": "promo", "kind": "marketing", "body": "20% off today"})
    call(client, "POST", "/templates", admin, {"name": "receipt", "kind": "transactional", "body": "Paid, thanks"})
    refused = call(client, "POST", "/messages", admin, {"to": TO, "template": "promo", "kind": "transactional"})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.json["errors"] == [{"field": "kind", "message": "template 'promo' is marketing: it cannot be "
                                                                   "sent as transactional"}]
    bulk = call(client, "POST", "/messages", admin, {"messages": [{"to": TO, "text": "Your code is 4711"},
                                                                  {"to": OTHER, "template": "promo", "kind": "transactional"}]})
    assert bulk.status_code == 422 and bulk.json["errors"][0]["field"] == "messages[1].kind"
    with queue.sessions() as session:
        assert session.scalars(select(Message)).all() == []  # nothing of either request was stored
    sent = [call(client, "POST", "/messages", admin, body).json["id"] for body in (
        {"to": TO, "template": "promo", "kind": "marketing"}, {"to": TO, "template": "receipt"},
        {"to": TO, "template": "receipt", "kind": "marketing"}, {"to": TO, "text": "Your code is 4711"})]
    assert [queue.get(i).kind for i in sent] == ["marketing", "transactional", "marketing", "transactional"]


def test_an_opt_in_after_the_customers_stop_only_asks_and_says_so(client, make_key, web_context, queue):
    key = make_key("send,read")
    assert call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "web_form"}).status_code == 201
    with web_context.sessions.begin() as session:
        part = InboundPart(modem="sim1", sender=TO, text="STOP", received_at=web_context.clock.now(), raw_pdu="00")
        session.add(part)
    web_context.inbound(part)
    again = call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "staff", "detail": "at the till"})
    assert again.status_code == 202, again.json
    assert again.json["consent"] == "requested" and again.json["event"]["kind"] == "opt_in_requested"
    assert "opted out (keyword)" in again.json["detail"] and again.json["contact"]["consent"] == "opted_out"
    confirmation = queue.get(again.json["confirmation_message_id"])
    assert "Reply YES" in confirmation.text and confirmation.to_number == TO
    assert call(client, "GET", f"/consent?number={TO}", key).json["consent"] == "opted_out"  # nothing restored


def test_a_guessed_timezone_shows_as_one_until_it_is_stated(client, make_key):
    key = make_key("contacts,read")
    response = call(client, "POST", "/contacts", key, {"number": "+79121234567", "name": "Olga"})
    assert response.status_code == 201, response.json
    made = response.json
    assert (made["timezone"], made["timezone_guessed"]) == ("Europe/Moscow", True)
    stated = call(client, "PATCH", f"/contacts/{made['id']}", key, {"timezone": "Asia/Yekaterinburg"}).json
    assert (stated["timezone"], stated["timezone_guessed"]) == ("Asia/Yekaterinburg", False)
    again = call(client, "PATCH", f"/contacts/{made['id']}", key, {"timezone": None}).json
    assert (again["timezone"], again["timezone_guessed"]) == ("Europe/Moscow", True)
    pinned = call(client, "POST", "/contacts", key, {"number": "+74951234567"}).json
    assert (pinned["timezone"], pinned["timezone_guessed"]) == ("Europe/Moscow", False)


def receive(web_context, text: str) -> None:
    with web_context.sessions.begin() as session:
        part = InboundPart(modem="sim1", sender=TO, text=text, received_at=web_context.clock.now(), raw_pdu="00")
        session.add(part)
    web_context.inbound(part)


def test_repeated_opt_ins_after_a_stop_text_one_request_and_say_so(client, make_key, web_context, queue):
    """A till re-syncing its customer list, or staff pressing the button again, is no new request:
    202 `requested` that names when the open request went and that no second one was sent."""
    key = make_key("send,read")
    call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "web_form"})
    receive(web_context, "STOP")
    first = call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "staff"}).json
    web_context.clock.advance(3600)
    for _ in range(4):
        again = call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "staff", "detail": "again"})
        assert again.status_code == 202 and again.json["consent"] == "requested", again.json
        assert again.json["confirmation_message_id"] is None and again.json["event"] == first["event"]
        sent_at = first["event"]["at"].replace("Z", "+00:00")
        assert f"was sent at {sent_at}" in again.json["detail"] and "no second one was sent" in again.json["detail"]
    with queue.sessions() as session:
        asks = session.scalars(select(Message.id).where(Message.to_number == TO, Message.source == "consent")).all()
    assert asks == [first["confirmation_message_id"]]


def test_an_opt_in_after_stopall_is_refused_with_the_reason_and_texts_nothing(client, make_key, web_context, queue):
    key = make_key("send,read")
    call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "web_form"})
    receive(web_context, "STOPALL")
    refused = call(client, "POST", "/consent/opt-in", key, {"number": TO, "source": "staff", "detail": "at the till"})
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json", refused.json
    assert refused.json["detail"].startswith("not recorded: the customer asked for no messages at all (STOPALL")
    assert "only their own START" in refused.json["detail"]
    with queue.sessions() as session:
        assert session.scalars(select(Message.source).where(Message.to_number == TO)).all() == ["keyword"]
    history = call(client, "GET", f"/consent?number={TO}", key).json
    assert history["consent"] == "opted_out_all" and [e["kind"] for e in history["events"]] == ["opt_in", "opt_out"]
