"""The inbox and templates pages in a real browser (Playwright driving Debian's Chromium) against the
real daemon on a virtual modem: a customer's text from the virtual network in the inbox, unread until
opened; STOP marked as a keyword and the contact shown opted out; a reply from the conversation
reaching the network; the list refreshing itself (htmx, on the browser's fake clock); a template's
preview with a Cyrillic and an Arabic name; hostile SMS shown as text; axe-core and screenshots
(390 and 1280 px, English and Arabic) in test-artifacts/console/.

One daemon and two signed-in pages (English, Arabic) serve the whole module. The browser contexts
bypass the Content-Security-Policy on purpose: the escaping itself must stop a `<script>` or
`<img onerror>`, not only the policy.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from gateway.audience import contacts
from gateway.inbound.models import Conversation
from gateway.outbound import template_book
from gateway.outbound.models import Message

from .browser_helpers import (  # noqa: F401  (fixtures)
    XSS, a_customer_texts, arabic, assert_signed_out_are_sent_to_login, browser, check, english,
    pages_fixture, shop_fixture)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(120)
ASKING = "+447700900201"
STOPPING = "+447700900202"
HOSTILE = "+447700900203"
LATE = "+447700900204"
REPLYING = "+447700900207"
ZARINA = "+447700900205"
SARA = "+971500000206"


shop = shop_fixture("inbox")  # one virtual modem without send limits, an admin


# Pages whose timers run on time the test moves (htmx's polling).
pages = pages_fixture(fake_time=True)


def unread(shop, number: str) -> int:
    with shop.queue.sessions() as session:
        return sum(c.unread for c in session.scalars(select(Conversation).where(Conversation.number == number)))


def line(page, number: str):
    return page.locator("#inbox-lines li.line", has=page.locator(f"bdi.number:text-is('{number}')"))


def test_a_customers_text_appears_unread_and_opening_it_marks_it_read(shop, english):
    a_customer_texts(shop, ASKING, "Do you deliver on Sundays?")
    english.goto(f"{shop.url}/inbox")
    assert line(english, ASKING).get_attribute("class") == "line unread"
    assert "Do you deliver on Sundays?" in line(english, ASKING).inner_text()
    check(english, "inbox")
    line(english, ASKING).locator("a").click()
    expect(english.locator("h1")).to_have_text(ASKING)  # the conversation's page, once it has loaded
    assert english.locator("#thread .entry.in .text").last.inner_text() == "Do you deliver on Sundays?"
    assert english.locator("#thread .entry.in .text").last.get_attribute("dir") == "auto"
    assert unread(shop, ASKING) == 0
    check(english, "conversation")
    english.goto(f"{shop.url}/inbox")
    assert line(english, ASKING).get_attribute("class") == "line"


def test_a_reply_from_the_conversation_reaches_the_network(shop, english):
    a_customer_texts(shop, REPLYING, "Are you open on Sunday?")
    english.goto(f"{shop.url}/inbox/{REPLYING}")
    english.fill("textarea[name=text]", "Yes, until 4 pm.")
    english.click("form.reply button[type=submit]")
    expect(english.locator("main .flash")).to_have_text("Reply queued.")  # the page after the redirect
    taken = wait_until(lambda: [e for e in shop.simulator.network.record.submitted if e["recipient"] == REPLYING], 20,
                       "the reply at the network")
    assert [e["text"] for e in taken] == ["Yes, until 4 pm."]
    english.goto(f"{shop.url}/inbox/{REPLYING}")
    assert english.locator("#thread .entry.out .text").last.inner_text() == "Yes, until 4 pm."


def test_a_stop_is_marked_as_a_keyword_and_the_contact_shown_opted_out(shop, english, arabic):
    a_customer_texts(shop, STOPPING, "Stop")
    english.goto(f"{shop.url}/inbox/{STOPPING}")
    assert english.locator("#thread .entry.in .badge.keyword").first.inner_text() == "keyword STOP"
    assert "Opted out of marketing." in english.locator("section.consent").inner_text()
    check(english, "conversation-stop")
    english.fill("textarea[name=text]", "Your order 1042 ships today.")
    english.click("form.reply button[type=submit]")  # nothing asked since the STOP: refused, naming it
    expect(english.locator("#text-error")).to_contain_text("this contact opted out on")
    check(english, "conversation-reply-refused")
    shop.clock.advance(1)  # then they ask something: a reply may answer that (consent.replies)
    a_customer_texts(shop, STOPPING, "Does order 1042 still ship today?")
    english.goto(f"{shop.url}/inbox/{STOPPING}")
    english.fill("textarea[name=text]", "Done. Your order 1042 still ships today.")
    english.click("form.reply button[type=submit]")
    expect(english.locator("main .flash")).to_have_text("Reply queued.")
    # opted out of marketing: a transactional answer to what they asked since still goes (consent rules)
    wait_until(lambda: [e for e in shop.simulator.network.record.submitted if e["recipient"] == STOPPING
                        and e["text"] == "Done. Your order 1042 still ships today."], 20, "the reply at the network")
    arabic.goto(f"{shop.url}/inbox/{STOPPING}")
    assert (arabic.locator("html").get_attribute("dir"), arabic.locator("h1 bdi").get_attribute("dir")) == ("rtl", "ltr")
    assert "ألغى الاشتراك في التسويق." in arabic.locator("section.consent").inner_text()
    check(arabic, "conversation-ar")
    arabic.goto(f"{shop.url}/inbox")
    check(arabic, "inbox-ar")


def test_hostile_sms_renders_as_text_in_the_list_and_the_conversation(shop, english):
    a_customer_texts(shop, HOSTILE, XSS)
    for path in ("/inbox", f"/inbox/{HOSTILE}"):
        english.goto(f"{shop.url}{path}")
        assert english.locator("main script").count() == 0 and english.locator("main img").count() == 0, path
        assert XSS in english.locator("main bdi.text").all_inner_texts(), path
    assert english.dialogs == []


def test_the_open_inbox_and_conversation_show_a_new_text_on_their_next_refresh(shop, english):
    english.goto(f"{shop.url}/inbox")
    assert line(english, LATE).count() == 0
    a_customer_texts(shop, LATE, "Is the shop open late today?")
    # htmx's "every 10s", on the page's clock; the page's time also flows, so a poll already on its
    # way may take this turn (htmx drops a trigger while a request is out): the next one brings it
    english.clock.run_for(10_000)
    expect(line(english, LATE)).to_have_count(1, timeout=25_000)
    assert line(english, LATE).get_attribute("class") == "line unread"
    line(english, LATE).locator("a").click()
    expect(english.locator("h1")).to_have_text(LATE)
    a_customer_texts(shop, LATE, "Until 9 would be great")
    english.clock.run_for(10_000)
    expect(english.locator("#thread .entry.in .text").last).to_have_text("Until 9 would be great", timeout=25_000)
    assert unread(shop, LATE) == 0  # the refresh that showed it marked it read, in the same transaction


def _template_with_contacts(shop) -> int:
    now = shop.clock.now()
    with shop.queue.sessions.begin() as session:
        made = template_book.create(session, "welcome-back", "Hi {first_name|friend}, 10% off today", "marketing", now)
        for number, name in ((ZARINA, "Зарина Ахметова"), (SARA, "سارة")):
            contact = contacts.find(session, number) or contacts.create(session, number, now=now, source="staff")
            contact.name = name
        return made.id


def test_a_template_preview_fills_in_a_cyrillic_and_an_arabic_name(shop, english, arabic):
    made = _template_with_contacts(shop)
    english.goto(f"{shop.url}/templates")
    assert english.locator(".templates h2 a").all_inner_texts() == ["welcome-back"]
    check(english, "templates")
    english.locator(".templates h2 a").click()
    expect(english.locator("#number")).to_be_visible()
    for number, text in ((ZARINA, "Hi Зарина, 10% off today"), (SARA, "Hi سارة, 10% off today")):
        english.fill("#number", number)
        english.click("form.pick button[type=submit]")
        expect(english.locator(".preview .final")).to_have_text(text)  # the page of this number, once loaded
        assert "Unicode (UCS-2)" in english.locator(".preview .figures").inner_text()
    check(english, "template-edit")
    arabic.goto(f"{shop.url}/templates/{made}?number={SARA.replace('+', '%2B')}")
    assert arabic.locator(".preview .final").inner_text() == "Hi سارة, 10% off today"
    check(arabic, "template-edit-ar")
    arabic.goto(f"{shop.url}/templates")
    check(arabic, "templates-ar")


def test_the_pages_need_a_login_and_a_post_without_its_token_is_refused(browser, shop, english):
    assert_signed_out_are_sent_to_login(browser, shop.url, ("/inbox", f"/inbox/{ASKING}", "/templates", "/templates/new"))
    answer = english.request.post(f"{shop.url}/inbox/{ASKING}/reply", form={"text": "no token"})
    assert answer.status == 400 and "security token" in answer.text()
    with shop.queue.sessions() as session:
        assert session.scalar(select(Message).where(Message.text == "no token")) is None  # nothing was queued
