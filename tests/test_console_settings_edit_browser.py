"""/settings/limits edited in a real browser (Playwright driving Debian's Chromium) against the real
daemon: a SIM's per-minute limit saved and reset, a bad value refused per field with what was typed
shown as text; axe-core and screenshots (390 and 1280 px, English and Arabic) in test-artifacts/console/.

The browser contexts bypass the Content-Security-Policy on purpose: the escaping itself must stop a
`<script>` or `<img onerror>`, not only the policy.
"""

from __future__ import annotations

import pytest

from gateway.core.clock import FakeClock
from gateway.settings import store

from .browser_helpers import XSS, browser, check, console_daemon, pages_fixture  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)
ICCID = "8944000000000000001"
PER_MINUTE = f"input[name='sims.iccid:{ICCID}.per_minute']"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The daemon on one virtual modem, a SIM with limits of its own in [[sims]], an admin."""
    clock = FakeClock()
    with console_daemon(tmp_path_factory.mktemp("limits"), clock, modem_timing=clock,
                        modems=[{"name": "template", "port": "unused", "check_interval_s": 1}],
                        sims=[{"iccid": ICCID, "limits": {"per_minute": 10, "per_hour": 100, "per_day": 500,
                                                          "per_month": 5000}}]) as daemon:
        yield daemon


pages = pages_fixture()


def test_an_admin_lowers_a_sims_limit_then_resets_it(shop, pages):
    page = pages("en")
    page.goto(f"{shop.url}/settings/limits")
    check(page, "settings-limits-edit-en")
    page.fill(PER_MINUTE, "3")
    page.click("form.limits-edit button[type=submit].primary")
    assert "Saved" in page.inner_text(".flash")
    assert page.input_value(PER_MINUTE) == "3"
    assert store.overrides(shop.queue.sessions)[f"sims.iccid:{ICCID}.per_minute"].value == 3
    assert "Changed in the console by anna" in page.inner_text("main")
    check(page, "settings-limits-changed-en")
    page.click(".changed-settings button[type=submit]")
    assert page.input_value(PER_MINUTE) == "10" and store.overrides(shop.queue.sessions) == {}


def test_a_bad_value_is_refused_in_its_field_and_shown_as_text(shop, pages):
    page = pages("en")
    page.goto(f"{shop.url}/settings/limits")
    page.fill("input[name='consent.frequency_cap']", XSS)
    page.fill(f"input[name='sims.iccid:{ICCID}.per_hour']", "5")
    page.click("form.limits-edit button[type=submit].primary")
    assert page.locator("[aria-invalid=true]").count() == 2
    assert page.input_value("input[name='consent.frequency_cap']") == XSS  # kept, as text
    assert page.dialogs == [] and page.locator("main img").count() == 0
    assert "Must be at least the limit of the shorter window (10)." in page.inner_text("main")
    check(page, "settings-limits-errors-en")
    assert store.overrides(shop.queue.sessions) == {}


def test_the_arabic_page_mirrors_and_saves(shop, pages):
    page = pages("ar")
    page.goto(f"{shop.url}/settings/limits")
    assert page.get_attribute("html", "dir") == "rtl" and "حفظ قواعد الإرسال" in page.inner_text("main")
    check(page, "settings-limits-edit-ar")
    page.fill(PER_MINUTE, "4")
    page.click("form.limits-edit button[type=submit].primary")
    assert page.input_value(PER_MINUTE) == "4"
    check(page, "settings-limits-changed-ar")
    page.click(".changed-settings button[type=submit]")
    assert store.overrides(shop.queue.sessions) == {}
