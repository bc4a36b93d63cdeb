"""The console in a real browser (Playwright driving Debian's Chromium) against the real daemon on a
virtual modem: first-run setup, sign-in and its throttle, roles, CSRF, right-to-left Arabic, text from
the network and from SMS shown as text, axe-core on each page, screenshots at 390 and 1280 px in
test-artifacts/console/.

The browser contexts bypass the Content-Security-Policy on purpose: the escaping itself must stop a
`<script>` or `<img onerror>`, not only the policy.
"""

from __future__ import annotations

import logging

import pytest

from gateway.core.clock import FakeClock
from gateway.inbound.models import InboundMessage
from gateway.users import accounts
from web.console.security import PER_USER

from . import browser_helpers
from .browser_helpers import PASSWORD, WIDTHS, XSS, browser, check, console_daemon, sign_in  # noqa: F401  (fixture)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(120)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The daemon on one virtual modem whose network's name is hostile; health checked every second;
    no user yet (first-run setup)."""
    records = Records()
    logging.getLogger("gsmgw").addHandler(records)
    try:
        with console_daemon(tmp_path_factory.mktemp("console"), FakeClock(), users=(),
                            modems=[{"name": "template", "port": "unused", "check_interval_s": 1}]) as daemon:
            daemon.records = records
            yield daemon
    finally:
        logging.getLogger("gsmgw").removeHandler(records)


@pytest.fixture
def new_page(browser):
    """new_page(language="en") -> a page in a fresh browser context (its own cookies)."""
    made = []

    def make(language: str = "en"):
        made.append(browser_helpers.new_page(browser, language))
        return made[-1]

    yield make
    for page in made:
        page.context.close()


def _set_up(page, code: str) -> None:
    """The first-run form sent with `code` for the admin anna (an empty code: the browser keeps it)."""
    page.fill("#code", code)
    page.fill("#name", "anna")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit].primary")


def test_first_run_setup_needs_the_code_the_daemon_printed(shop, new_page):
    code = shop.setup_code
    assert code and any(code in line for line in shop.records.lines)  # logged at start
    page = new_page()
    page.goto(f"{shop.url}/")
    check(page, "setup")
    for attempt in ("", "WRONG-WRONG"):
        _set_up(page, attempt)
        assert page.locator("#code").count() == 1  # still the setup form
    assert "not the setup code" in page.inner_text("main")
    assert not accounts.any_user(shop.queue.sessions)
    _set_up(page, code)
    assert page.locator("h1").inner_text() == "Dashboard"
    check(page, "dashboard")
    page.goto(f"{shop.url}/audit")
    check(page, "audit")
    # the code was for one use: the next visitor gets the sign-in page, not a setup form
    other = new_page()
    other.goto(f"{shop.url}/")
    assert "/login" in other.url and other.locator("#code").count() == 0
    check(other, "login")


def test_sign_in_and_its_throttle(shop, new_page):
    accounts.add(shop.queue.sessions, shop.clock, "sam", PASSWORD, "staff")
    accounts.add(shop.queue.sessions, shop.clock, "tara", PASSWORD, "staff")
    page = new_page()
    for _ in range(PER_USER[0]):
        sign_in(page, shop.url, "tara", "not her password")
        assert "Wrong user name or password." in page.inner_text("main")
    sign_in(page, shop.url, "tara")
    assert "Too many failed attempts. Try again in 15 minutes." in page.inner_text("main")
    check(page, "login-throttled")
    sign_in(page, shop.url, "sam")  # another user from the same address is not held back
    assert page.locator("h1").inner_text() == "Dashboard"
    page.click("footer button:has-text('Sign out')")
    assert "/login" in page.url


def test_every_page_but_login_and_setup_needs_a_login(shop, new_page):
    page = new_page()
    for path in ("/", "/audit"):
        page.goto(f"{shop.url}{path}")
        assert page.url.startswith(f"{shop.url}/login"), path
        assert page.locator("#password").count() == 1


def test_staff_get_403_on_an_admin_page(shop, new_page):
    page = new_page()
    sign_in(page, shop.url, "sam")
    assert page.locator("nav a[href='/audit']").count() == 0
    answer = page.goto(f"{shop.url}/audit")
    assert answer.status == 403 and "Your role does not allow this page" in page.inner_text("main")
    check(page, "forbidden")
    answer = page.goto(f"{shop.url}/no-such-page")
    assert answer.status == 404
    check(page, "not-found")


def test_a_post_without_its_csrf_token_is_refused(shop, new_page):
    page = new_page()
    sign_in(page, shop.url, "anna")
    answer = page.request.post(f"{shop.url}/language", form={"language": "ru"})
    assert answer.status == 400 and "security token" in answer.text()
    page.goto(f"{shop.url}/")
    assert page.locator("html").get_attribute("lang") == "en"  # nothing changed


def test_the_arabic_console_is_right_to_left_and_mirrored(shop, new_page):
    page = new_page("ar")
    sign_in(page, shop.url, "anna")
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert page.locator("h1").inner_text() == "لوحة المعلومات"
    nav, main = page.locator("nav.nav").bounding_box(), page.locator("main").bounding_box()
    assert nav["x"] > main["x"]  # the navigation is on the right at 1280 px
    check(page, "dashboard-ar")
    page.set_viewport_size({"width": WIDTHS["phone"], "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]  # nothing sticks out


def _inbound_count(shop) -> int:
    with shop.queue.sessions() as session:
        return session.query(InboundMessage).count()


def test_text_from_the_network_and_from_sms_renders_as_text(shop, new_page):
    shop.simulator.network.operator = XSS
    port = next(iter(shop.simulator.ports.values()))
    port.modem.inject_sms("+447700900123", XSS)
    port.modem.inject_sms("+971500000000", "مرحبا، هل المتجر مفتوح اليوم؟")
    wait_until(lambda: _inbound_count(shop) >= 2, 20)
    wait_until(lambda: shop.engine.workers and any(m["operator"] == XSS for m in _modems(shop)), 20)
    page = new_page()
    sign_in(page, shop.url, "anna")
    page.goto(f"{shop.url}/")
    page.wait_for_load_state("load")  # an onerror would have fired by then: every image loaded or failed
    assert page.dialogs == []
    assert page.locator("body script").count() == 0 and page.locator("main img").count() == 0
    texts = page.locator(".received .text")
    assert XSS in texts.all_inner_texts() and texts.first.get_attribute("dir") == "auto"
    assert XSS in page.locator(".card dd[dir=auto]").all_inner_texts()
    check(page, "dashboard-hostile-text")


def _modems(shop):
    from gateway.sims import status

    return status.describe([(s, shop.engine.workers.get(s.name)) for s in shop.supervisors])


def test_the_chinese_and_russian_consoles_use_their_catalogues(shop, new_page):
    for language, heading in (("zh", "仪表板"), ("ru", "Обзор")):
        page = new_page(language)
        sign_in(page, shop.url, "anna")
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("h1").inner_text() == heading
        check(page, f"dashboard-{language}")
