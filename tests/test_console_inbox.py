"""The inbox and templates pages through Flask's test client on a real database, with texts that
came in through the real inbound pipeline (keywords, consent ledger, conversations); and the
domain reads beneath them (`gateway.inbound.inbox`, `gateway.outbound.template_book`).
(The same in a real browser against the daemon: test_console_inbox_browser.py.)"""

from __future__ import annotations

import re
import pytest
from sqlalchemy import event, select

from gateway.audience import contacts
from gateway.inbound import inbox
from gateway.inbound.models import Conversation
from gateway.outbound import template_book
from gateway.outbound.models import MessageTemplate
from gateway.users import audit

from .console_helpers import (  # noqa: F401  (fixtures)
    admin, admin_client, csrf_of, post_form, rig, staff, staff_client)

CUSTOMER = "+447700900123"
OTHER = "+447700900456"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
pytestmark = pytest.mark.timeout(60)


def _unread(web_context, number: str) -> int:
    with web_context.sessions() as session:
        return sum(c.unread for c in session.scalars(select(Conversation).where(Conversation.number == number)))


def _name(web_context, number: str, name: str) -> None:
    with web_context.sessions.begin() as session:
        contact = contacts.find(session, number)
        contact.name = name


# ---- the domain: gateway.inbound.inbox ----------------------------------------------------------------
def test_the_inbox_has_one_line_per_number_newest_first_with_the_unread_of_all_its_sims(rig, web_context, clock):
    rig.receive(CUSTOMER, "first, to sim1", modem="sim1")
    clock.advance(60)
    rig.receive(OTHER, "hello from the other", modem="sim1")
    clock.advance(60)
    rig.receive(CUSTOMER, "then to sim2", modem="sim2")
    _name(web_context, CUSTOMER, "Зарина")
    with web_context.sessions() as session:
        page = inbox.lines(session)
    assert [(line.number, line.name, line.unread, line.last_text) for line in page.lines] == [
        (CUSTOMER, "Зарина", 2, "then to sim2"), (OTHER, None, 1, "hello from the other")]
    assert page.next is None


def test_the_inbox_pages_by_a_cursor_through_every_number_once(rig, web_context, clock):
    numbers = [f"+4477009001{i:02d}" for i in range(7)]
    for i, number in enumerate(numbers):
        rig.receive(number, f"hi from {number}")
        if i % 3 == 2:
            clock.advance(1.000001)  # the others arrive at the same instant: the cursor's id breaks the ties
    clock.advance(1)
    rig.receive(numbers[0], "again")  # the oldest number comes first again
    seen, after = [], None
    with web_context.sessions() as session:
        while True:
            page = inbox.lines(session, after, limit=3)
            seen += [line.number for line in page.lines]
            after = inbox.Cursor.decode(page.next.encode()) if page.next else None
            if after is None:
                break
    assert seen == [numbers[0], *reversed(numbers[1:])]
    assert inbox.Cursor.decode("not-a-cursor") is None and inbox.Cursor.decode(None) is None
    assert inbox.Cursor.decode("99999999999999999999_1") is None


@pytest.mark.sqlite_only
def test_a_page_of_the_inbox_reads_conversations_only_through_indexes(rig, web_context):
    """Thinking of 100,000 customers: no page view scans the conversations (SQLite's plan says so)."""
    rig.receive(CUSTOMER, "hi")
    with web_context.sessions() as session:
        captured = []
        engine = session.get_bind()

        def keep(conn, cursor, statement, parameters, context, executemany):
            if "FROM conversations" in statement and not captured:
                captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", keep)
        try:
            inbox.lines(session, inbox.Cursor.decode("1700000000000000_5"))
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        statement, parameters = captured[0]
        plan = " | ".join(row[-1] for row in session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters).all())
    assert "SCAN" not in plan, plan  # every table is sought on an index, the page's range included
    assert "ix_conversations_latest (last_message_at<?)" in plan and "ix_conversations_number_latest" in plan, plan


@pytest.mark.sqlite_only
def test_a_conversation_reads_its_messages_through_indexes(rig, web_context):
    rig.receive(CUSTOMER, "hi", modem="sim1")
    rig.receive(CUSTOMER, "again", modem="sim2")
    web_context.queue.enqueue(CUSTOMER, "hello")
    with web_context.sessions() as session:
        engine = session.get_bind()
        captured = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", keep)
        try:
            inbox.thread(session, CUSTOMER)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        plans = [" | ".join(row[-1] for row in session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters).all()) for statement, parameters in captured]
    assert plans and all("SCAN" not in plan for plan in plans), plans


def test_a_thread_interleaves_what_came_in_and_what_went_out_by_time(rig, web_context, clock):
    rig.receive(CUSTOMER, "Is my order ready?", modem="sim1")
    clock.advance(30)
    web_context.queue.enqueue(CUSTOMER, "Yes, come by at 5", sim="sim1", source="console")
    clock.advance(30)
    rig.receive(CUSTOMER, "STOP", modem="sim1")
    with web_context.sessions.begin() as session:
        thread = inbox.thread(session, CUSTOMER)
        assert inbox.mark_read(session, CUSTOMER) == 1
        assert inbox.thread(session, "+447700900999") is None
    texts = [(e.direction, e.text, e.keyword) for e in thread.entries]
    assert texts[:2] == [("in", "Is my order ready?", None), ("out", "Yes, come by at 5", None)]
    assert texts[2] == ("in", "STOP", "STOP") and thread.entries[2].action == "opt_out"
    assert texts[3][0] == "out"  # the keyword's own confirmation, queued by the pipeline
    assert thread.sim == "sim1" and thread.unread == 2 and _unread(web_context, CUSTOMER) == 0


def test_marking_what_was_shown_read_leaves_a_text_that_came_in_since_unread(rig, web_context, clock):
    rig.receive(CUSTOMER, "first", modem="sim1")
    rig.receive(CUSTOMER, "on the other sim", modem="sim2")
    with web_context.sessions() as session:
        shown = inbox.thread(session, CUSTOMER)
    clock.advance(1)
    rig.receive(CUSTOMER, "while the page was being made", modem="sim2")
    with web_context.sessions.begin() as session:
        assert inbox.mark_read(session, CUSTOMER, shown) == 1  # sim1's thread: all of it was shown
    assert _unread(web_context, CUSTOMER) == 2


# ---- the inbox pages ------------------------------------------------------------------------------------
def test_the_inbox_and_conversations_need_a_login(client, admin):
    for path in ("/inbox", "/inbox/lines", f"/inbox/{CUSTOMER}", f"/inbox/{CUSTOMER}/entries", "/templates",
                 "/templates/1", "/templates/new"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path


def test_staff_see_the_inbox_unread_marked_and_opening_a_conversation_marks_it_read(staff_client, rig, web_context):
    rig.receive(CUSTOMER, "Do you have size 42?")
    page = staff_client.get("/inbox").get_data(as_text=True)
    assert 'class="line unread"' in page and "Unread: 1" in page and "Do you have size 42?" in page
    assert f'<bdi class="number" dir="ltr">{CUSTOMER}</bdi>' in page
    assert 'href="/inbox/+447700900123"' in page
    opened = staff_client.get("/inbox/+447700900123")
    assert opened.status_code == 200
    assert '<bdi class="text" dir="auto">Do you have size 42?</bdi>' in opened.get_data(as_text=True)
    assert _unread(web_context, CUSTOMER) == 0
    assert 'class="line unread"' not in staff_client.get("/inbox").get_data(as_text=True)


def test_a_conversation_opens_by_the_contacts_id_too_and_an_unknown_one_is_404(admin_client, rig, web_context):
    rig.receive(CUSTOMER, "hello")
    with web_context.sessions() as session:
        contact_id = contacts.find(session, CUSTOMER).id
    assert CUSTOMER in admin_client.get(f"/inbox/{contact_id}").get_data(as_text=True)
    assert admin_client.get("/inbox/999999").status_code == 404
    assert admin_client.get("/inbox/%2B447700900999").status_code == 404


def test_a_stop_reply_is_marked_as_a_keyword_and_the_contact_shown_opted_out(admin_client, rig):
    rig.receive(CUSTOMER, "stop")
    listing = admin_client.get("/inbox").get_data(as_text=True)
    assert "keyword STOP" in listing
    page = admin_client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    assert '<span class="badge keyword">keyword STOP</span>' in page and "opted out of marketing" in page
    assert 'class="panel consent consent-opted_out"' in page and "Opted out of marketing." in page
    assert "may still be sent, as a transactional message" in page
    arabic = admin_client.get(f"/inbox/{CUSTOMER}", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "ألغى الاشتراك في التسويق." in arabic


def test_after_stopall_the_page_says_a_reply_would_be_suppressed(admin_client, rig):
    rig.receive(CUSTOMER, "STOPALL")
    page = admin_client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    assert "consent-opted_out_all" in page and "a reply would be suppressed" in page


def test_a_reply_goes_through_the_queue_as_transactional_from_the_sim_they_wrote_to_and_is_audited(
        admin_client, rig, web_context, modem_list, clock):
    modem_list.append({"name": "sim2", "state": "ready"})
    rig.receive(CUSTOMER, "stop", modem="sim2")  # opted out of marketing: a reply to what they ask since still goes
    clock.advance(60)
    rig.receive(CUSTOMER, "where is my parcel?", modem="sim2")
    sent = post_form(admin_client, f"/inbox/{CUSTOMER}/reply", {"text": "Your parcel left today."},
                     page=f"/inbox/{CUSTOMER}")
    assert sent.status_code == 302 and sent.headers["Location"] == "/inbox/+447700900123"
    reply = rig.outbox(CUSTOMER)[-1]
    assert (reply.text, reply.kind, reply.source, reply.sim_requested, reply.status) == (
        "Your parcel left today.", "transactional", "console", "sim2", "queued")
    entry = audit.recent(web_context.sessions)[0]
    assert (entry.action, entry.actor, entry.detail) == ("reply_sent", "anna", f"message {reply.id} to {CUSTOMER}")
    page = admin_client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Reply queued." in page and "Your parcel left today." in page and ">Queued<" in page


def test_a_reply_from_a_sim_no_longer_here_goes_from_any(admin_client, rig):
    rig.receive(CUSTOMER, "hi", modem="gone")
    post_form(admin_client, f"/inbox/{CUSTOMER}/reply", {"text": "Hello"}, page=f"/inbox/{CUSTOMER}")
    assert rig.outbox(CUSTOMER)[-1].sim_requested is None


def test_an_empty_or_csrf_less_reply_is_refused_and_queues_nothing(admin_client, rig):
    rig.receive(CUSTOMER, "hi")
    before = len(rig.outbox())
    empty = post_form(admin_client, f"/inbox/{CUSTOMER}/reply", {"text": ""}, page=f"/inbox/{CUSTOMER}")
    assert empty.status_code == 400 and 'aria-invalid="true"' in empty.get_data(as_text=True)
    refused = admin_client.post(f"/inbox/{CUSTOMER}/reply", data={"text": "no token"})
    assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    assert len(rig.outbox()) == before


def test_an_alphanumeric_sender_has_no_reply_box(admin_client, rig):
    rig.receive("VODAFONE", "Your bill is ready")
    page = admin_client.get("/inbox/VODAFONE").get_data(as_text=True)
    assert "cannot be answered" in page and 'name="text"' not in page


def test_sms_text_is_escaped_in_the_list_and_the_conversation(admin_client, rig):
    rig.receive(CUSTOMER, XSS)
    rig.receive(OTHER, "مرحبا، هل المتجر مفتوح؟")
    for path in ("/inbox", "/inbox/lines", f"/inbox/{CUSTOMER}", f"/inbox/{CUSTOMER}/entries"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert ESCAPED in page, path
    assert '<bdi class="text" dir="auto">مرحبا، هل المتجر مفتوح؟</bdi>' in admin_client.get("/inbox").get_data(as_text=True)


def test_the_list_and_an_open_conversation_refresh_themselves_as_fragments(admin_client, rig, clock):
    rig.receive(CUSTOMER, "one")
    page = admin_client.get("/inbox").get_data(as_text=True)
    assert 'hx-get="/inbox/lines" hx-trigger="every 10s" hx-swap="outerHTML"' in page
    conversation = admin_client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    assert 'hx-get="/inbox/+447700900123/entries" hx-trigger="every 10s"' in conversation
    assert '<textarea' in conversation and 'name="text"' in conversation and "{# counter #}" not in conversation
    clock.advance(5)
    rig.receive(CUSTOMER, "two")
    lines = admin_client.get("/inbox/lines").get_data(as_text=True)
    assert lines.lstrip().startswith('<div id="inbox-lines" hx-get="/inbox/lines"')
    assert "<html" not in lines and "two" in lines and "Unread: 1" in lines
    entries = admin_client.get(f"/inbox/{CUSTOMER}/entries").get_data(as_text=True)
    assert "<html" not in entries and entries.index("one") < entries.index("two")


def test_later_pages_link_back_and_do_not_poll(admin_client, rig, clock, monkeypatch):
    monkeypatch.setattr(inbox, "PAGE", 2)
    for i in range(3):
        rig.receive(f"+4477009002{i:02d}", f"text {i}")
        clock.advance(1)
    first = admin_client.get("/inbox").get_data(as_text=True)
    older = re.search(r'href="(/inbox\?after=[^"]+)">Older', first).group(1)
    second = admin_client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "text 0" in second and "text 2" not in second and 'hx-get="/inbox/lines"' not in second
    assert 'href="/inbox">Newest' in second


# ---- templates ---------------------------------------------------------------------------------------
def _template(web_context, name="welcome", body="Hi {first_name|friend}, 10% off today", kind="marketing") -> int:
    with web_context.sessions.begin() as session:
        return template_book.create(session, name, body, kind, web_context.clock.now()).id


def test_an_admin_creates_edits_and_deletes_a_template_each_audited(admin_client, web_context):
    made = post_form(admin_client, "/templates/new", {"name": "table-ready", "body": "Hi {first_name|there}, your table is ready",
                                                      "kind": "transactional"})
    assert made.status_code == 302
    with web_context.sessions() as session:
        row = template_book.find(session, "table-ready")
    assert made.headers["Location"] == f"/templates/{row.id}" and row.kind == "transactional"
    listing = admin_client.get("/templates").get_data(as_text=True)
    assert "table-ready" in listing and "Transactional" in listing and "Parts as written: 1" in listing
    edited = post_form(admin_client, f"/templates/{row.id}", {"body": "Your table is ready", "kind": "marketing"})
    assert edited.status_code == 302
    with web_context.sessions() as session:
        assert (session.get(MessageTemplate, row.id).body, session.get(MessageTemplate, row.id).kind) == (
            "Your table is ready", "marketing")
    confirm = admin_client.get(f"/templates/{row.id}/delete").get_data(as_text=True)
    assert "Campaigns made from it keep their own copy of the text" in confirm
    gone = post_form(admin_client, f"/templates/{row.id}/delete", {}, page=f"/templates/{row.id}/delete")
    assert gone.status_code == 302 and gone.headers["Location"] == "/templates"
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, row.id) is None
    assert [e.action for e in audit.recent(web_context.sessions)][:3] == [
        "template_deleted", "template_changed", "template_created"]


def test_a_broken_or_taken_template_is_refused_with_the_reason_and_nothing_is_stored(admin_client, web_context):
    _template(web_context)
    broken = post_form(admin_client, "/templates/new", {"name": "broken", "body": "Hi {first_name", "kind": "marketing"})
    assert broken.status_code == 400 and "single &#39;{&#39;" in broken.get_data(as_text=True)
    taken = post_form(admin_client, "/templates/new", {"name": "welcome", "body": "Hi", "kind": "marketing"})
    assert taken.status_code == 400 and "a template named &#39;welcome&#39; exists" in taken.get_data(as_text=True)
    bad_name = post_form(admin_client, "/templates/new", {"name": "has space", "body": "Hi", "kind": "marketing"})
    assert bad_name.status_code == 400
    with web_context.sessions() as session:
        assert [t.name for t in template_book.listing(session)] == ["welcome"]


def test_an_edit_that_breaks_the_template_is_refused_and_the_stored_one_stays(admin_client, web_context):
    made = _template(web_context)
    broken = post_form(admin_client, f"/templates/{made}", {"body": "Hi {first_name.upper}", "kind": "marketing"})
    assert broken.status_code == 400 and 'id="body-error"' in broken.get_data(as_text=True)
    odd_kind = post_form(admin_client, f"/templates/{made}", {"body": "Hi", "kind": "spam"})
    assert odd_kind.status_code == 400
    with web_context.sessions() as session:
        row = session.get(MessageTemplate, made)
        assert (row.body, row.kind) == ("Hi {first_name|friend}, 10% off today", "marketing")


def test_the_api_and_the_console_refuse_the_same_template(client, make_key):
    """One rule: the API's answer names the same fault the console shows."""
    answer = client.post("/api/v1/templates", json={"name": "broken", "body": "Hi {first_name"}, headers=make_key().headers)
    assert answer.status_code == 422 and template_book.body_problem("Hi {first_name") in answer.get_data(as_text=True)


def test_staff_see_templates_and_previews_but_may_not_change_them(staff_client, web_context):
    made = _template(web_context)
    assert "welcome" in staff_client.get("/templates").get_data(as_text=True)
    page = staff_client.get(f"/templates/{made}")
    assert page.status_code == 200 and 'name="body"' not in page.get_data(as_text=True)
    assert staff_client.get("/templates/new").status_code == 403
    assert staff_client.get(f"/templates/{made}/delete").status_code == 403
    token = csrf_of(page.get_data(as_text=True))
    refused = staff_client.post(f"/templates/{made}", data={"csrf_token": token, "body": "x", "kind": "marketing"})
    assert refused.status_code == 403
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, made).body.startswith("Hi {first_name|friend}")


@pytest.mark.parametrize("name, text, encoding, parts", [
    ("Зарина Ахметова", "Hi Зарина, 10% off today", "Unicode (UCS-2)", 1),
    ("سارة", "Hi سارة, 10% off today", "Unicode (UCS-2)", 1),
    (None, "Hi friend, 10% off today", "GSM-7", 1),
])
def test_the_preview_fills_a_contacts_name_or_the_fallback_with_encoding_and_parts(admin_client, web_context, name,
                                                                                    text, encoding, parts):
    made = _template(web_context)
    with web_context.sessions.begin() as session:
        contact = contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff")
        contact.name = name
    page = admin_client.get(f"/templates/{made}", query_string={"number": "07700 900123"}).get_data(as_text=True)
    assert f'<bdi class="text final" dir="auto">{text}</bdi>' in page
    assert f"<dd>{encoding}</dd>" in page and f"<dt>Parts</dt><dd>{parts}</dd>" in page
    assert f"<dt>Characters</dt><dd>{len(text)}</dd>" in page


@pytest.mark.parametrize(("name", "text", "warning"), [
    ("سارة", "Dear {name}, " + "x" * 120,
     ("<dt>Parts</dt><dd>2</dd>", "need Unicode (UCS-2): 2 parts; the template's own words alone: 1.")),
    ("Bartholomew Smithson", "Dear {name}, " + "x" * 140,
     ("<dd>GSM-7</dd>", "make 2 parts; the template's own words alone: 1.")),
], ids=["arabic-needs-unicode", "latin-costs-a-part"])
def test_a_long_name_warns_that_the_contacts_values_cost_more(admin_client, web_context, name, text, warning):
    made = _template(web_context, "long", text, "transactional")
    with web_context.sessions.begin() as session:
        contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff").name = name
    page = admin_client.get(f"/templates/{made}", query_string={"number": CUSTOMER}).get_data(as_text=True)
    for words in warning:
        assert words in page, words


def test_the_preview_says_what_is_missing_or_who_is_unknown(admin_client, web_context):
    made = _template(web_context, "code", "Your code is {code}", "transactional")
    with web_context.sessions.begin() as session:
        contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff")
    missing = admin_client.get(f"/templates/{made}", query_string={"number": CUSTOMER}).get_data(as_text=True)
    assert "lacks a value the template needs" in missing and "no value for {code}" in missing
    unknown = admin_client.get(f"/templates/{made}", query_string={"number": OTHER}).get_data(as_text=True)
    assert "No contact has this number." in unknown
    assert "This is not a phone number." in admin_client.get(f"/templates/{made}",
                                                             query_string={"number": "abc"}).get_data(as_text=True)


def test_template_text_is_escaped_everywhere_it_is_shown(admin_client, web_context):
    made = _template(web_context, "evil", XSS.replace("{", "").replace("}", ""), "transactional")
    for path in ("/templates", f"/templates/{made}"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path


def test_a_delete_without_its_csrf_token_is_refused_and_the_template_stays(admin_client, web_context):
    made = _template(web_context)
    refused = admin_client.post(f"/templates/{made}/delete", data={})
    assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, made) is not None


@pytest.mark.parametrize("name, body, kind, field", [
    ("", "Hi", "marketing", "name"), ("-dash-first", "Hi", "marketing", "name"), ("x" * 101, "Hi", "marketing", "name"),
    ("ok", "", "marketing", "body"), ("ok", "x" * 1601, "marketing", "body"), ("ok", "Hi {a.b}", "marketing", "body"),
    ("ok", "Hi", "spam", "kind"),
])
def test_the_template_book_refuses_what_the_api_refuses_naming_the_field(database, clock, name, body, kind, field):
    from gateway.store import db

    with db.sessions(database).begin() as session:
        with pytest.raises(template_book.TemplateRefused) as refused:
            template_book.create(session, name, body, kind, clock.now())
    assert refused.value.field == field


def test_a_template_page_of_no_template_is_404(admin_client):
    assert admin_client.get("/templates/999").status_code == 404
    assert admin_client.get("/templates/999/delete").status_code == 404
