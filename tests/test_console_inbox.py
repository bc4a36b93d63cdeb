"""The inbox pages through Flask's test client on a real database, with texts that came in through
the real inbound pipeline (keywords, consent ledger, conversations); and the domain reads beneath
them (`gateway.inbound.inbox`). (The same in a real browser against the daemon:
test_console_inbox_browser.py.)"""

from __future__ import annotations

import re
import pytest
from sqlalchemy import event, select

from gateway.audience import contacts
from gateway.inbound import inbox
from gateway.inbound.models import Conversation
from gateway.users import audit

from .console_helpers import CUSTOMER, OTHER, XSS, post_form
from .console_helpers import admin, admin_client, rig, staff, staff_client  # noqa: F401  (fixtures)

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
