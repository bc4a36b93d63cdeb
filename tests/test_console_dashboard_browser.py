"""The dashboard's charts and figures in a real browser against the real daemon on a virtual modem: a
message sent through the virtual network shows in the hourly chart, a customer's text in the replies;
hostile SMS shown as text; axe-core and screenshots (390 and 1280 px, English and Arabic) in
test-artifacts/console/. One daemon and two signed-in pages (English, Arabic) serve the module."""

from __future__ import annotations

import pytest


from .browser_helpers import (  # noqa: F401  (fixtures)
    XSS, a_customer_texts, arabic, browser, check, english, pages_fixture, shop_fixture)

pytestmark = pytest.mark.timeout(120)
CUSTOMER = "+447700900301"


shop = shop_fixture("dashboard")  # one virtual modem without send limits, an admin


pages = pages_fixture()


def test_a_sent_message_and_a_reply_show_on_the_dashboard(shop, english, arabic):
    message = shop.queue.enqueue(CUSTOMER, "Your order is ready")
    shop.statuses.wait([message.id], "sent")  # through the virtual modem
    a_customer_texts(shop, CUSTOMER, XSS)
    english.goto(f"{shop.url}/")
    assert english.inner_text("#replies-today") == "1" and english.inner_text("#replies-week") == "1"
    hourly = english.locator("figure[aria-labelledby=chart-hourly-title]")
    assert hourly.locator("svg[role=img] rect.chart-bar.sent").count() == 1
    assert "Sent 1" in hourly.locator("rect.chart-bar.sent title").text_content()
    assert english.locator("figure[aria-labelledby=chart-daily-title] rect.chart-bar.sent").count() == 1
    assert XSS in english.inner_text("main") and english.dialogs == []
    check(english, "dashboard-charts")
    arabic.goto(f"{shop.url}/")
    assert arabic.locator("html").get_attribute("dir") == "rtl"
    assert arabic.inner_text("#replies-today") == "1"
    check(arabic, "dashboard-charts-ar")
    assert arabic.dialogs == []
