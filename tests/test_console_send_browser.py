"""Quick send, the part counter, the messages log and the timeline in a real browser (Playwright
driving Debian's Chromium, the console's own CSP in force) against the real daemon on a virtual
modem: a message sent from the page is seen delivered in its timeline; for 20 texts in several
scripts the live counter's parts are the parts the virtual network received; the UCS-2 warning
names the character; the phone's bottom bar; axe and screenshots (390/1280 px, en and ar) of each
page; text from outside renders as text.

Every wait is for the thing then asserted: a message's status from the queue's own status
listeners, the counter's fragment for the very text typed (`data-length`), a page's navigation.
"""

from __future__ import annotations

import pytest


from .browser_helpers import (  # noqa: F401  (fixture)
    WIDTHS, XSS, assert_signed_out_are_sent_to_login, assert_xss_shown_as_text, browser, check,
    pages_fixture, shop_fixture)

pytestmark = pytest.mark.timeout(180)
# (text, what it tests): each sent to its own number, so the network's record tells its parts apart
TEXTS = [
    ("We’re open until 9pm today", "Latin with a curly apostrophe"),
    ("Привет! Ваш заказ готов, заберите его до 18:00.", "Cyrillic"),
    ("مرحبا، طلبك جاهز للاستلام من المتجر.", "Arabic"),
    ("您好，您的订单已准备好，请到店领取。", "Chinese"),
    ("Party tonight 🎉🎉 see you there", "emoji"),
    ("a" * 160, "exactly 160 GSM-7"),
    ("b" * 161, "161 GSM-7"),
    ("ж" * 70, "exactly 70 UCS-2"),
    ("щ" * 71, "71 UCS-2"),
    ("Price: 5€ [today only] {members} ~ ^ | \\", "GSM-7 extension characters"),
    ("€" * 80, "80 euro signs: 160 septets"),
    ("€" * 81, "81 euro signs: 162 septets"),
    ("Your code is 482913", "plain code"),
    ("Long story. " * 60, "long multi-part GSM-7"),
    ("Длинное сообщение. " * 20, "long multi-part Cyrillic"),
    ("😀" * 35, "35 emoji: 70 UTF-16 units"),
    ("😀" * 36, "36 emoji: 72 UTF-16 units"),
    ("x" * 153 + "€", "an extension character across a part boundary"),
    ("Grüße aus Köln – bis bald", "an en dash in German"),
    ("Ça va? Très bien. Ñandú, ÆØÅ", "accented letters inside GSM-7"),
]


shop = shop_fixture("console-send")  # one virtual modem without send limits, an admin


# Pages with the console's CSP in force, unless asked for with bypass_csp=True.
pages = pages_fixture(bypass_csp=False)


def _type(page, text: str) -> None:
    """Type `text` into the compose box and wait for the counter htmx swapped in for exactly it."""
    page.fill("#text", text)
    page.wait_for_selector(f'#counter[data-length="{len(text)}"]', state="attached")


def _compose(page, shop, to: str, text: str) -> None:
    page.goto(f"{shop.url}/send")
    page.fill("#to", to)
    _type(page, text)


def _submit(page) -> int:
    """Send what the form holds; the id of the message whose timeline the page went to."""
    with page.expect_navigation():
        page.click("#send")
    assert "/messages/" in page.url, page.inner_text("main")
    return int(page.url.split("/messages/")[1].split("?")[0])


def _send(page, shop, to: str, text: str) -> int:
    _compose(page, shop, to, text)
    return _submit(page)


def _submitted(shop, number: str) -> list[dict]:
    return [e for e in shop.simulator.network.record.submitted if e["recipient"] == number]


def test_quick_send_is_delivered_and_its_timeline_says_so(shop, pages):
    page = pages()
    message_id = _send(page, shop, "+447700900500", "Your table is ready")
    shop.statuses.wait([message_id], "delivered")
    page.reload()
    assert page.inner_text("#message-status") == "Delivered"
    steps = page.locator(".steps .badge").all_inner_texts()
    assert steps[0] == "Queued" and steps[-1] == "Delivered" and "Sent" in steps
    part = page.locator("table.parts tbody tr")
    assert part.count() == 1 and "Delivered" in part.inner_text()
    assert page.locator("table.parts td[data-label=SIM]").inner_text() == shop.supervisors[0].name
    page.goto(f"{shop.url}/messages?status=delivered")
    assert page.locator(f'a[href="/messages/{message_id}"]').count() == 1


def test_the_counter_says_the_parts_the_modem_sent_for_twenty_texts(shop, pages):
    page = pages()
    said: dict[str, tuple[int, str]] = {}
    ids = []
    for i, (text, _) in enumerate(TEXTS):
        number = f"+4477009006{i:02d}"
        _compose(page, shop, number, text)
        counter = page.locator("#counter")
        said[number] = (int(counter.locator("[data-parts]").get_attribute("data-parts")),
                        counter.locator("[data-encoding]").get_attribute("data-encoding"))
        ids.append(_submit(page))
    shop.statuses.wait(ids, "sent")  # every part of each was accepted by the network by then
    received = {number: (len(_submitted(shop, number)), {e["encoding"] for e in _submitted(shop, number)})
                for number in said}
    assert {n: (p, {e}) for n, (p, e) in said.items()} == received
    assert sorted(p for p, _ in said.values()) != [1] * len(TEXTS)  # the set has multi-part texts too
    assert said["+447700900605"][0] == 1 and said["+447700900606"][0] == 2  # 160 / 161 GSM-7
    assert said["+447700900607"][0] == 1 and said["+447700900608"][0] == 2  # 70 / 71 UCS-2


def test_the_ucs2_warning_names_the_character_and_offers_the_gsm7_text(shop, pages):
    page = pages()
    page.goto(f"{shop.url}/send")
    _type(page, "We’re open until 9pm today. " * 5)
    warning = page.locator("#counter .counter-warn").inner_text()
    assert "’ (right single quotation mark) makes this message Unicode: 3 SMS instead of 1" in warning
    assert "replace it with '" in warning
    assert page.locator("#counter .fixed-text").inner_text().startswith("We're open")
    check(page, "send-warning")
    with page.expect_navigation():
        page.click("#counter button[name=use_gsm7]")
    assert page.input_value("#text") == "We're open until 9pm today. " * 5
    assert page.get_attribute("#counter [data-encoding]", "data-encoding") == "gsm7"
    assert page.get_attribute("#counter [data-parts]", "data-parts") == "1"


def test_each_page_passes_axe_and_is_photographed_in_english_and_arabic(shop, pages):
    message_id = _send(pages(), shop, "+447700900700", "Your order 1234 is ready — thank you!")
    for language in ("en", "ar"):
        page = pages(language)
        suffix = "" if language == "en" else "-ar"
        page.goto(f"{shop.url}/send?to=%2B447700900700")
        _type(page, "Bonjour ’ ça va")
        check(page, f"send{suffix}")
        page.goto(f"{shop.url}/messages")
        check(page, f"messages{suffix}")
        page.goto(f"{shop.url}/messages/{message_id}")
        check(page, f"timeline{suffix}")
        page.goto(f"{shop.url}/messages/{message_id}/cancel")
        check(page, f"cancel{suffix}")


def test_the_phone_bar_is_in_thumb_reach_and_mirrored_in_arabic(shop, pages):
    for language, more in (("en", "More"), ("ar", "المزيد")):
        page = pages(language)
        page.set_viewport_size({"width": WIDTHS["phone"], "height": 800})
        try:
            page.goto(f"{shop.url}/send")
            assert not page.locator("nav.nav").is_visible()
            bar = page.locator("nav.tabbar")
            box = bar.bounding_box()
            assert abs(box["y"] + box["height"] - 800) < 1  # at the bottom of the screen
            links = bar.locator(":scope > ul > li")
            assert links.count() == 5
            first, last = links.nth(0).bounding_box(), links.nth(4).bounding_box()
            assert (first["x"] < last["x"]) == (language == "en")  # Dashboard first in reading order
            assert all(links.nth(i).bounding_box()["height"] >= 44 for i in range(5))
            assert not bar.locator("details a[href='/messages']").is_visible()
            bar.locator("summary", has_text=more).click()
            assert bar.locator("details a[href='/messages']").is_visible()
            with page.expect_navigation():
                bar.locator("details a[href='/messages']").click()
            assert page.url.endswith("/messages")
            assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]
        finally:
            page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    desktop = pages()
    desktop.goto(f"{shop.url}/send")
    assert desktop.locator("nav.nav").is_visible() and not desktop.locator("nav.tabbar").is_visible()


def test_hostile_text_renders_as_text_on_the_log_and_the_timeline(shop, pages):
    page = pages(bypass_csp=True)  # the escaping itself must stop it, not only the policy
    message_id = _send(page, shop, "+447700900800", XSS)
    for path in (f"/messages/{message_id}", "/messages"):
        page.goto(f"{shop.url}{path}")
        assert_xss_shown_as_text(page)
    page.goto(f"{shop.url}/messages/{message_id}")
    assert page.locator(".message-text").get_attribute("dir") == "auto"
    check(page, "timeline-hostile-text")


def test_the_pages_need_a_login(shop, browser):
    assert_signed_out_are_sent_to_login(browser, shop.url, ("/send", "/messages", "/messages/1"))


def test_a_send_without_its_csrf_token_is_refused(shop, pages):
    page = pages()
    before = sum(shop.queue.depth().values())  # earlier messages may still change state: count them all
    answer = page.request.post(f"{shop.url}/send", form={"to": "+447700900900", "text": "no token", "send": "Send"})
    assert answer.status == 400 and "security token" in answer.text()
    assert sum(shop.queue.depth().values()) == before


def test_a_contact_found_by_name_and_a_template_fill_the_form_and_the_counter_counts_for_them(shop, pages):
    from gateway.audience import contacts
    from gateway.outbound.models import MessageTemplate

    with shop.queue.sessions.begin() as session:
        contact, _ = contacts.find_or_create(session, "+447700900950", now=shop.clock.now(), source="staff")
        contact.name = "Юлия Смирнова"
        session.add(MessageTemplate(name="ready", body="Hi {first_name|there}, your order is ready", kind="transactional",
                                    created_at=shop.clock.now(), updated_at=shop.clock.now()))
    page = pages()
    page.goto(f"{shop.url}/send")
    page.fill("#q", "юлия")  # htmx lists the matches as one types: no submit
    page.wait_for_selector(".pick a:has-text('Юлия')")
    with page.expect_navigation():
        page.locator(".pick a").filter(has_text="Юлия").click()
    assert page.input_value("#to") == "+447700900950"
    page.select_option("#template", label="ready")
    with page.expect_navigation():
        page.click("#use_template")
    assert page.input_value("#text") == "Hi {first_name|there}, your order is ready"
    assert "For this contact: 1 SMS, Unicode (UCS-2)." in page.inner_text("#counter")
    message_id = _submit(page)
    assert shop.queue.get(message_id).text == "Hi Юлия, your order is ready"
