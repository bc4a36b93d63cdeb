"""The dashboard's charts and figures in a real browser against the real daemon on a virtual modem: a
message sent through the virtual network shows in the hourly chart, a customer's text in the replies;
hostile SMS shown as text; axe-core and screenshots (390 and 1280 px, English and Arabic) in
test-artifacts/console/. One daemon and two signed-in pages (English, Arabic) serve the module."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.core.clock import FakeClock
from gateway.inbound.models import InboundMessage
from gateway.outbound.models import Message
from gateway.users import accounts

from .console_helpers import PASSWORD, WIDTHS, browser  # noqa: F401  (fixture)
from .daemon_helpers import build_daemon
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(120)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
CUSTOMER = "+447700900301"
NO_LIMITS = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The daemon on one virtual modem without send limits (the FakeClock stands still), with an admin."""
    daemon = build_daemon(tmp_path_factory.mktemp("dashboard"), FakeClock(), 1,
                          modems=[{"name": "template", "port": "unused", "limits": NO_LIMITS}])
    daemon.start()
    try:
        assert daemon.wait_ready(20), daemon.status_line()
        daemon.url = daemon.api_url().removesuffix("/api/v1")
        accounts.add(daemon.queue.sessions, daemon.clock, "anna", PASSWORD, "admin")
        yield daemon
    finally:
        daemon.stop()


def _signed_in(browser, shop, language: str):
    context = browser.new_context(locale=language, extra_http_headers={"Accept-Language": language},
                                  bypass_csp=True, viewport={"width": WIDTHS["desktop"], "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{shop.url}/login")
    page.fill("#name", "anna")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{shop.url}/")
    return context, page


@pytest.fixture(scope="module")
def english(browser, shop):
    context, page = _signed_in(browser, shop, "en")
    yield page
    context.close()


@pytest.fixture(scope="module")
def arabic(browser, shop):
    context, page = _signed_in(browser, shop, "ar")
    yield page
    context.close()


def check(page, name: str) -> None:
    """axe-core on the page (no serious or critical violation) and its screenshots at both widths."""
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        assert violations == [], (name, label, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in violations])
        if label == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, "sticks out")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def sent_at(shop, message_id: int):
    with shop.queue.sessions() as session:
        return session.scalar(select(Message.sent_at).where(Message.id == message_id))


def stored(shop, sender: str, text: str) -> InboundMessage | None:
    with shop.queue.sessions() as session:
        return session.scalar(select(InboundMessage).where(InboundMessage.sender == sender, InboundMessage.text == text))


def test_a_sent_message_and_a_reply_show_on_the_dashboard(shop, english, arabic):
    message = shop.queue.enqueue(CUSTOMER, "Your order is ready")
    wait_until(lambda: sent_at(shop, message.id), 20, "the message sent through the virtual modem")
    next(iter(shop.simulator.ports.values())).modem.inject_sms(CUSTOMER, XSS)
    wait_until(lambda: stored(shop, CUSTOMER, XSS), 20, "the reply stored")
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
