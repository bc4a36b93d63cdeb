"""The modems page and the admins' settings pages in a real browser (Playwright driving Debian's
Chromium) against the real daemon on a virtual modem: staff blocked from every settings page but
seeing the modems; an API key shown once that then works against /api/v1; a webhook's "send test"
reaching a local receiver and showing in its delivery log; a virtual modem restarted and back ready;
a hostile operator name and USSD answer shown as text; axe-core and screenshots (390 and 1280 px,
English and Arabic) of each page in test-artifacts/console/.

The browser contexts bypass the Content-Security-Policy on purpose: the escaping itself must stop a
`<script>` or `<img onerror>`, not only the policy.
"""

from __future__ import annotations

import re

import pytest

from gateway.core.clock import FakeClock
from gateway.sims import status
from modem.supervision import ModemState

from .browser_helpers import XSS, browser, check, console_daemon, pages_fixture  # noqa: F401  (fixture)
from .modem_helpers import wait_until
from .webhook_helpers import Receiver

pytestmark = pytest.mark.timeout(120)
SETTINGS = ("/settings", "/settings/keys", "/settings/webhooks", "/settings/users", "/settings/keywords",
            "/settings/limits")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The daemon on one virtual modem, webhooks allowed to 127.0.0.1, an admin and a staff user.
    The supervisors' waits (a restart's boot time) are on the FakeClock."""
    clock = FakeClock()
    with console_daemon(tmp_path_factory.mktemp("settings"), clock, modem_timing=clock,
                        users=(("anna", "admin"), ("sam", "staff")),
                        modems=[{"name": "template", "port": "unused", "check_interval_s": 1}],
                        webhooks={"allowed_hosts": ["127.0.0.1"]}) as daemon:
        yield daemon


pages = pages_fixture()


def _modem(shop) -> dict:
    return status.describe([(s, shop.engine.workers.get(s.name)) for s in shop.supervisors])[0]


def test_staff_are_blocked_from_every_settings_page_but_see_the_modems(shop, pages):
    page = pages(user="sam")
    assert page.locator("nav a[href='/settings']").count() == 0
    for path in SETTINGS + ("/settings/webhooks/1", "/settings/keys/1/revoke"):
        answer = page.goto(f"{shop.url}{path}")
        assert answer.status == 403 and "Your role does not allow this page" in page.inner_text("main"), path
    answer = page.goto(f"{shop.url}/modems")
    assert answer.status == 200 and page.locator(".card").count() == 1
    assert page.locator("main form").count() == 0 and page.locator("a[href$='/restart']").count() == 0


def test_an_api_key_shows_once_then_works_against_the_api(shop, pages):
    page = pages()
    page.goto(f"{shop.url}/settings/keys")
    page.fill("#name", "till")
    page.check("input[name=scopes][value=read]")
    page.click("button[type=submit].primary")
    token = page.inner_text("#token")
    assert token.startswith("gsk_")
    check(page, "settings-key-created")
    answer = page.request.get(f"{shop.url}/api/v1/modems", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200 and answer.json()["items"][0]["name"] == _modem(shop)["name"]
    page.goto(f"{shop.url}/settings/keys")
    assert token not in page.content() and token[:12] in page.inner_text("main")


def test_a_webhooks_send_test_reaches_the_receiver_and_shows_in_its_log(shop, pages):
    receiver = Receiver(check_signature=False)
    try:
        page = pages()
        page.goto(f"{shop.url}/settings/webhooks")
        page.fill("#url", receiver.url)
        page.fill("#description", "till")
        page.click("button[type=submit].primary")
        secret = page.inner_text("#webhook-secret")
        assert len(secret) >= 16
        page.click("a:has-text('Go to the webhook')")
        page.click("button:has-text('Send test')")
        assert receiver.wait_for(1, 20) and receiver.received[0]["type"] == "webhook.test"
        page.wait_for_selector("#deliveries .status-delivered", timeout=20_000)  # the log's refresh shows it
        assert "webhook.test" in page.inner_text("#deliveries")
        assert secret not in page.content()
    finally:
        receiver.close()


def test_a_restarted_virtual_modem_comes_back_ready(shop, pages):
    supervisor = shop.supervisors[0]
    page = pages()
    page.goto(f"{shop.url}/modems")
    page.click(f"a[href='/modems/{supervisor.name}/restart']")
    assert "sends nothing for about a minute" in page.inner_text("main")
    check(page, "modem-restart")
    page.click("button[type=submit].danger")
    assert "is restarting" in page.inner_text("main")
    # the reset is made and the supervisor waits out the boot time on the FakeClock: let it pass
    wait_until(lambda: shop.clock.waiting(f"{supervisor.name}-supervisor") is not None, 20, "the boot wait")
    assert supervisor.state is ModemState.INITIALISING and "restart asked" in supervisor.recovery
    shop.clock.advance(supervisor.settings.boot_s)
    assert supervisor.wait_ready(20), supervisor.state
    page.goto(f"{shop.url}/modems")
    assert page.locator(".card .badge").first.inner_text() == "Ready"


def test_a_hostile_operator_name_and_ussd_answer_render_as_text(shop, pages):
    port = next(iter(shop.simulator.ports.values()))
    shop.simulator.network.operator = XSS
    port.modem.ussd_text = XSS
    shop.supervisors[0].check_now()
    wait_until(lambda: _modem(shop)["operator"] == XSS, 20, "the operator's name read")
    page = pages()
    page.goto(f"{shop.url}/modems")
    assert XSS in page.locator(".card dd[dir=auto]").all_inner_texts()
    page.click("summary:has-text('USSD balance check')")
    page.click("button:has-text('Check the balance')")
    answer = page.wait_for_selector(".ussd .answer", timeout=20_000)  # swapped in by the fragment's poll
    assert answer.inner_text() == XSS and answer.get_attribute("dir") == "auto"
    assert page.dialogs == []
    assert page.locator("body script").count() == 0 and page.locator("main img").count() == 0
    check(page, "modems-hostile-text")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_each_page_passes_axe_and_is_photographed(shop, pages, language):
    page = pages(language)
    suffix = "" if language == "en" else "-ar"
    page.goto(f"{shop.url}/modems")
    assert page.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
    check(page, f"modems{suffix}")
    for path in SETTINGS:
        assert page.goto(f"{shop.url}{path}").status == 200, path
        check(page, ("settings" + path.removeprefix("/settings").replace("/", "-")) + suffix)
    endpoints = shop.webhooks.list_endpoints() or [shop.webhooks.create_endpoint("http://127.0.0.1:9/hook",
                                                                                  ["message.status"])]
    page.goto(f"{shop.url}/settings/webhooks/{endpoints[0]['id']}")  # with its delivery log
    check(page, f"settings-webhook{suffix}")
    users = page.locator("a[href*='/password']")
    page.goto(f"{shop.url}/settings/users")
    href = users.first.get_attribute("href")
    assert re.fullmatch(r"/settings/users/\d+/password", href)
    page.goto(f"{shop.url}{href}")
    check(page, f"settings-user-password{suffix}")
