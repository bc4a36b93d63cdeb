"""Quick send, the part counter, the messages log and the timeline through Flask's test client on a
real database: the counter is the queue's own count, a send is the queue's enqueue with its audit
entry, the consent rule refuses in words, the log filters and pages on the API's query, text from
outside is escaped, every change needs its CSRF token. (In a real browser:
test_console_send_browser.py.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from gateway.audience import contacts
from gateway.consent.models import ConsentSource
from gateway.consent.send_check import ConsentCheck
from gateway.consent.rules import Rules
from gateway.outbound import listing
from gateway.outbound.models import MessageStatus, MessageTemplate
from gateway.users import audit
from modem.encoding import segment_info
from web.console import counter

from .console_helpers import (  # noqa: F401  (fixtures)
    PASSWORD, add_user, admin, admin_client, csrf_of, post_form, sign_in, staff, staff_client,
)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
NUMBER = "+447700900123"


def _send(client, **fields):
    data = {"to": NUMBER, "text": "Your table is ready", "kind": "transactional", "template": "", "send": "Send"}
    data.update(fields)
    return post_form(client, "/send", data)


def _template(web_context, name: str, body: str, kind: str = "transactional") -> int:
    now = web_context.clock.now()
    with web_context.sessions.begin() as session:
        template = MessageTemplate(name=name, body=body, kind=kind, created_at=now, updated_at=now)
        session.add(template)
        session.flush()
        return template.id


def _contact(web_context, number: str, name: str, **fields) -> None:
    with web_context.sessions.begin() as session:
        contact, _ = contacts.find_or_create(session, number, now=web_context.clock.now(), source="staff")
        contact.name, contact.fields = name, fields


# ---- the counter (pure) ------------------------------------------------------------------------------
TEXTS = ["Hello", "It’s open", "a" * 160, "a" * 161, "ж" * 70, "ж" * 71, "€" * 80, "€" * 81, "[x]" * 60,
         "Привет, как дела?", "مرحبا بكم", "你好，欢迎光临", "Party 🎉 tonight", "x" * 1000, "😀" * 35, "😀" * 36]


@pytest.mark.parametrize("text", TEXTS)
def test_the_counter_is_the_queues_own_count(text):
    info, c = segment_info(text), counter.count(text)
    assert (c.parts, c.encoding, c.left, c.per_part) == (info.parts, info.encoding, info.remaining, info.per_part)


def test_a_curly_apostrophe_is_named_with_its_fix_and_the_gsm7_text():
    text = "We’re open today until 9pm. " * 5  # 140 characters: one part in GSM-7, three in UCS-2
    c = counter.count(text)
    assert (c.encoding, c.parts) == ("ucs2", 3)
    assert [(x.char, x.name, x.replacement) for x in c.culprits] == [("’", "right single quotation mark", "'")]
    assert c.parts_without == 1 and c.fixed_text == text.replace("’", "'")
    assert segment_info(c.fixed_text).encoding == "gsm7"


def test_an_emoji_is_named_without_a_replacement_and_a_whole_script_names_nothing():
    emoji = counter.count("Party tonight 🎉")
    assert [(x.char, x.replacement) for x in emoji.culprits] == [("🎉", None)] and emoji.fixed_text is None
    assert emoji.parts_without == 1
    assert counter.count("Привет, как дела?").culprits == ()  # Cyrillic needs Unicode: nothing to fix
    assert counter.count("€ [1]").culprits == () and counter.count("€ [1]").encoding == "gsm7"


def test_a_templates_count_spans_its_contacts_shortest_to_longest():
    spread = counter.spread("Hi {first_name|there}, your order is ready",
                            [{"first_name": "Al"}, {"first_name": "Алексей"}, {}])
    assert spread is not None and spread.contacts == 3
    assert (spread.shortest.encoding, spread.longest.encoding) == ("gsm7", "ucs2")
    assert spread.shortest.characters < spread.longest.characters
    assert counter.spread("No placeholders", [{}]) is None
    missing = counter.spread("Code {code}", [{}, {"code": "1234"}])
    assert missing.contacts == 1 and missing.missing == ("code",)


# ---- the rooms' functions the pages call -------------------------------------------------------------
def test_before_queueing_is_the_send_time_rule_for_a_message_not_queued_yet(web_context):
    check = ConsentCheck(web_context.sessions, web_context.clock, Rules(quiet_start=None, quiet_end=None))
    assert check.before_queueing(NUMBER, "transactional", "console").action == "send"
    refused = check.before_queueing(NUMBER, "marketing", "console")
    assert (refused.action, refused.reason) == ("suppress", "marketing without consent: no consent on record")
    web_context.audience.opt_out(NUMBER, source=ConsentSource.STAFF)
    assert check.before_queueing(NUMBER, "marketing", "console").reason.startswith("opted out of marketing")


def test_contacts_matching_finds_by_name_and_by_digits_and_escapes_wildcards(web_context):
    _contact(web_context, "+447700900111", "Layla Hassan")
    _contact(web_context, "+447700900222", "Иван Петров")
    with web_context.sessions() as session:
        assert [c.name for c in contacts.matching(session, "layla")] == ["Layla Hassan"]
        assert [c.name for c in contacts.matching(session, "иван")] == ["Иван Петров"]
        assert [c.number for c in contacts.matching(session, "0900222")] == ["+447700900222"]
        assert contacts.matching(session, "%") == [] and contacts.matching(session, "  ") == []


def test_listing_pages_newest_first_below_a_cursor(web_context):
    ids = [web_context.queue.enqueue(NUMBER, f"text {i}").id for i in range(5)]
    first = listing.page(web_context.sessions, listing.Filters(), limit=2)
    assert [m.id for m in first.messages] == ids[:-3:-1] and first.next_before == ids[3]
    rest = listing.page(web_context.sessions, listing.Filters(), before=first.next_before, limit=10)
    assert [m.id for m in rest.messages] == ids[2::-1] and rest.next_before is None


# ---- quick send --------------------------------------------------------------------------------------
def test_send_needs_a_login_and_staff_may_use_it(client, staff):
    for path in ("/send", "/messages", "/messages/1"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path
    sign_in(client, "sam")
    page = client.get("/send").get_data(as_text=True)
    assert 'inputmode="tel"' in page and 'name="text"' in page and 'id="counter"' in page


def test_a_send_queues_through_the_queue_audits_and_shows_the_timeline(web_context, staff_client):
    answer = _send(staff_client, to="07700 900123")
    assert answer.status_code == 302
    message_id = int(re.fullmatch(r"/messages/(\d+)\?sent=1", answer.headers["Location"]).group(1))
    message = web_context.queue.get(message_id)
    assert (message.to_number, message.text, message.status, message.source, message.kind) == (
        NUMBER, "Your table is ready", "queued", "console", "transactional")
    assert [(e.action, e.actor, e.detail) for e in audit.recent(web_context.sessions)][0] == (
        "message_sent", "sam", f"message {message_id} to {NUMBER}")
    page = staff_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Queued" in page and f'<bdi dir="ltr">{NUMBER}</bdi>' in page


def test_a_send_without_its_csrf_token_is_refused_and_queues_nothing(web_context, staff_client):
    answer = staff_client.post("/send", data={"to": NUMBER, "text": "hi", "send": "Send"})
    assert answer.status_code == 400 and "security token" in answer.get_data(as_text=True)
    assert web_context.queue.depth() == {}


def test_a_bad_number_says_so_and_keeps_the_text(web_context, staff_client):
    answer = _send(staff_client, to="12", text="Keep me")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "is not a phone number" in page and "Keep me" in page
    assert web_context.queue.depth() == {}


def test_marketing_to_a_contact_who_opted_out_is_refused_in_words(web_context, staff_client):
    web_context.audience.opt_out(NUMBER, source=ConsentSource.KEYWORD)
    answer = _send(staff_client, kind="marketing", text="20% off today")
    assert answer.status_code == 422
    assert "Not sent: this contact opted out of marketing messages." in answer.get_data(as_text=True)
    assert web_context.queue.depth() == {}
    assert _send(staff_client, text="Your order is ready").status_code == 302  # a receipt still goes


def test_a_template_fills_the_text_and_a_marketing_one_stays_marketing(web_context, staff_client):
    offer = _template(web_context, "offer", "Hi {first_name|there}, 20% off today", "marketing")
    filled = _send(staff_client, template=str(offer), use_template="Use template", send="")
    page = filled.get_data(as_text=True)
    assert filled.status_code == 200 and "Hi {first_name|there}, 20% off today</textarea>" in page
    assert '<option selected value="marketing">' in page
    refused = _send(staff_client, template=str(offer), text="Hi {first_name|there}, 20% off today")
    assert refused.status_code == 422 and "is marketing: it cannot be sent as transactional" in refused.get_data(as_text=True)


def test_a_templates_placeholders_are_filled_for_the_contact_and_counted_for_them(web_context, staff_client):
    _contact(web_context, NUMBER, "Алексей Смирнов")
    ready = str(_template(web_context, "ready", "Hi {first_name|there}, your order is ready"))
    checked = _send(staff_client, template=ready, text="Hi {first_name|there}, your order is ready", send="",
                    check="Check")
    assert "For this contact: 1 SMS, Unicode (UCS-2)." in checked.get_data(as_text=True)
    sent = _send(staff_client, template=ready, text="Hi {first_name|there}, your order is ready")
    message = web_context.queue.get(int(sent.headers["Location"].split("/")[2].split("?")[0]))
    assert message.text == "Hi Алексей, your order is ready" and message.encoding == "ucs2"
    free = _send(staff_client, text="Braces {as typed}")  # free text is not a template
    assert web_context.queue.get(int(free.headers["Location"].split("/")[2].split("?")[0])).text == "Braces {as typed}"


def test_a_templates_missing_value_is_named(web_context, staff_client):
    code = str(_template(web_context, "code", "Your code is {code}"))
    answer = _send(staff_client, template=code, text="Your code is {code}")
    assert answer.status_code == 422 and "This contact has no value for {code}." in answer.get_data(as_text=True)
    assert web_context.queue.depth() == {}


def test_the_counter_fragment_names_the_character_and_needs_the_token(staff_client):
    token = csrf_of(staff_client.get("/send").get_data(as_text=True))
    answer = staff_client.post("/counter", data={"csrf_token": token, "text": "We’re open " * 14})
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200 and fragment.lstrip().startswith("{#") is False
    assert 'data-parts="3"' in fragment and "’ (right single quotation mark) makes this message Unicode" in fragment
    assert "replace it with &#39;" in fragment and "We&#39;re open" in fragment
    assert staff_client.post("/counter", data={"text": "x"}).status_code == 400


def test_check_without_javascript_shows_the_counter(staff_client):
    page = _send(staff_client, text="a" * 161, send="", check="Check").get_data(as_text=True)
    assert 'data-parts="2"' in page and 'data-left="145"' in page and 'data-encoding="gsm7"' in page


def test_the_contact_search_lists_matches_that_fill_the_number(web_context, staff_client):
    _contact(web_context, "+447700900111", XSS)
    page = staff_client.get("/send", query_string={"q": "script"}).get_data(as_text=True)
    assert "/send?to=%2B447700900111" in page and XSS not in page and "&lt;script&gt;" in page
    filled = staff_client.get("/send?to=%2B447700900111").get_data(as_text=True)
    assert 'value="+447700900111"' in filled


# ---- the log, the timeline, cancel ---------------------------------------------------------------------
def test_the_log_is_newest_first_filtered_and_paged(web_context, client, staff, monkeypatch):
    from web.console import messages as page_module

    monkeypatch.setattr(page_module, "PAGE", 2)
    first = web_context.queue.enqueue("+447700900001", "first").id
    web_context.clock.advance(86400 * 2)
    ids = [web_context.queue.enqueue(NUMBER, f"later {i}").id for i in range(3)]
    web_context.queue.cancel(ids[0])
    staff_client = client
    sign_in(staff_client, "sam")
    page = staff_client.get("/messages").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'href="/messages/(\d+)"', page)]
    assert shown == [ids[2], ids[1]]
    older = re.search(r'href="(/messages\?cursor=[^"]+)"', page).group(1)
    assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', staff_client.get(older).get_data(as_text=True))] == [ids[0], first]
    cancelled = staff_client.get("/messages?status=cancelled").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', cancelled)] == [ids[0]]
    by_number = staff_client.get("/messages?to=07700900001").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', by_number)] == [first]
    day = web_context.clock.now().date()
    dated = staff_client.get(f"/messages?from={day - timedelta(days=2)}&until={day - timedelta(days=1)}").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', dated)] == [first]
    bad = staff_client.get("/messages?from=yesterday&to=12&campaign=x")
    assert bad.status_code == 200 and "year-month-day" in bad.get_data(as_text=True)
    assert "No messages match." in staff_client.get("/messages?campaign=7").get_data(as_text=True)


def test_text_from_outside_is_escaped_with_its_direction_on_the_log_and_timeline(web_context, staff_client):
    message_id = web_context.queue.enqueue(NUMBER, XSS).id
    for path in ("/messages", f"/messages/{message_id}"):
        page = staff_client.get(path).get_data(as_text=True)
        assert XSS not in page and "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(1)&gt;" in page, path
        assert f'<bdi dir="ltr">{NUMBER}</bdi>' in page
    assert '<p class="message-text" dir="auto">&lt;script&gt;' in staff_client.get(f"/messages/{message_id}").get_data(as_text=True)


def test_the_timeline_shows_each_part(web_context, staff_client):
    message_id = web_context.queue.enqueue(NUMBER, "x" * 200).id
    page = staff_client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "1 of 2" in page and "2 of 2" in page and page.count('class="badge part-status">Waiting<') == 2
    assert staff_client.get("/messages/999999").status_code == 404


def test_cancel_confirms_says_what_happens_and_is_audited(web_context, staff_client):
    message_id = web_context.queue.enqueue(NUMBER, "Cancel me").id
    confirm = staff_client.get(f"/messages/{message_id}/cancel").get_data(as_text=True)
    assert "This message will not be sent. This cannot be undone." in confirm
    assert web_context.queue.get(message_id).status == MessageStatus.QUEUED  # looking asks, changes nothing
    refused = staff_client.post(f"/messages/{message_id}/cancel")
    assert refused.status_code == 400 and web_context.queue.get(message_id).status == MessageStatus.QUEUED
    done = post_form(staff_client, f"/messages/{message_id}/cancel", {})
    assert done.status_code == 302 and web_context.queue.get(message_id).status == MessageStatus.CANCELLED
    assert [(e.action, e.actor) for e in audit.recent(web_context.sessions)][0] == ("message_cancelled", "sam")
    again = post_form(staff_client, f"/messages/{message_id}/cancel", {}, follow_redirects=True)
    assert "Too late to cancel" in again.get_data(as_text=True)
    assert [e.action for e in audit.recent(web_context.sessions)].count("message_cancelled") == 1


def test_the_phone_bar_has_the_four_daily_pages_and_the_rest_under_more(admin_client, staff):
    page = admin_client.get("/send").get_data(as_text=True)
    bar = page.split('<nav class="tabbar"')[1].split("</nav>")[0]
    top, more = bar.split("<details>")
    assert re.findall(r'<li><(?:a href="[^"]*"[^>]*|span class="soon")>([^<]+)<', top) == ["Dashboard", "Inbox", "Send", "Contacts"]
    assert "<summary>More</summary>" in more and 'href="/messages"' in more and 'href="/audit"' in more
    assert 'aria-current="page">Send<' in top


def test_the_gsm7_text_is_offered_and_taken_with_one_button(staff_client):
    page = _send(staff_client, text="It’s “open” – come in", send="", use_gsm7="1")
    assert page.status_code == 200 and 'It&#39;s &#34;open&#34; - come in</textarea>' in page.get_data(as_text=True)
    offered = _send(staff_client, text="It’s open", send="", check="1").get_data(as_text=True)
    assert 'name="use_gsm7"' in offered


def test_marketing_in_the_contacts_quiet_hours_is_queued_and_says_when_it_goes(web_context, client, staff):
    web_context.audience.opt_in(NUMBER, source=ConsentSource.KEYWORD)
    web_context.clock.advance(14 * 3600)  # 22:00 in London: quiet until 08:00
    sign_in(client, "sam")
    answer = _send(client, kind="marketing", text="20% off tomorrow")
    assert answer.status_code == 302 and "sent=1" not in answer.headers["Location"]
    message = web_context.queue.get(int(answer.headers["Location"].split("/")[2]))
    assert message.status == "queued" and message.kind == "marketing"
    assert "quiet hours for this contact, so it goes out at" in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_the_counter_names_the_character_by_its_code_point_on_a_translated_page(staff_client):
    token = csrf_of(staff_client.get("/send").get_data(as_text=True))
    for language in ("ar", "ru", "zh"):
        fragment = staff_client.post("/counter", data={"csrf_token": token, "text": "We’re open " * 14},
                                     headers={"Accept-Language": language}).get_data(as_text=True)
        assert "U+2019" in fragment and "’" in fragment, language
        assert "quotation mark" not in fragment, language  # Unicode's names are English
