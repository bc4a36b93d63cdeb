"""The campaign pages in a real browser (Playwright driving Debian's Chromium, the console's CSP in
force) against the real daemon on a virtual modem and a FakeClock: a campaign's progress reaches done
with its texts received by the virtual network, results and CSV; another campaign paused, resumed and
cancelled from the page never reaches the modem; axe and screenshots (390/1280 px, en and ar); a
hostile campaign name renders as text.

Every wait is for the thing then asserted: the messages' statuses from the queue's status listeners,
a page's navigation after a POST.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.campaigns import jobs
from gateway.campaigns.service import VariantIn
from gateway.core.clock import FakeClock

from .browser_helpers import XSS, browser, check, console_daemon, pages_fixture  # noqa: F401  (fixture)
from .campaign_helpers import add_contacts

pytestmark = pytest.mark.timeout(180)
NOW_NUMBERS = ["+447700900601", "+447700900602", "+447700900603"]
LATER_NUMBERS = ["+447700900701", "+447700900702"]
PAUSED_NUMBERS = ["+447700900801"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with console_daemon(tmp_path_factory.mktemp("console-campaigns"), FakeClock()) as daemon:
        now = daemon.clock.now()
        add_contacts(daemon.db, [{"number": n} for n in NOW_NUMBERS], now, group="now")
        add_contacts(daemon.db, [{"number": n} for n in LATER_NUMBERS], now, group="later")
        add_contacts(daemon.db, [{"number": n} for n in PAUSED_NUMBERS], now, group="paused")
        yield daemon


# Pages with the console's CSP in force.
pages = pages_fixture(bypass_csp=False)


def _run(shop, campaign_id: int) -> None:
    """The campaign job's rounds, as the scheduler runs them, until it has nothing left to do now."""
    for _ in range(20):
        if shop.campaigns.tick(campaign_id) is None:
            return


def _submitted(shop, numbers: list[str]) -> list[dict]:
    return [e for e in shop.simulator.network.record.submitted if e["recipient"] in numbers]


def _act(page, shop, campaign_id: int, action: str) -> None:
    """Open the action's confirmation from the campaign page and confirm it."""
    page.goto(f"{shop.url}/campaigns/{campaign_id}")
    with page.expect_navigation():
        page.click(f'a[href="/campaigns/{campaign_id}/{action}"]')
    with page.expect_navigation():
        page.click("form button[type=submit].primary")
    assert page.url.endswith(f"/campaigns/{campaign_id}"), page.url


def test_a_campaign_runs_to_done_with_its_texts_on_the_modem_results_and_csv(shop, pages):
    campaign_id = shop.campaigns.create("Winter sale", [VariantIn("Winter sale: 20% off today")], {"groups": ["now"]})
    shop.campaigns.start(campaign_id)
    _run(shop, campaign_id)
    shop.statuses.wait_for_count("delivered", len(NOW_NUMBERS))
    _run(shop, campaign_id)  # its next round sees everything finished
    page = pages()
    page.goto(f"{shop.url}/campaigns/{campaign_id}")
    assert page.inner_text("#campaign-status") == "done"
    assert "Delivered: 3" in page.inner_text("#campaign-progress")
    assert sorted(e["recipient"] for e in _submitted(shop, NOW_NUMBERS)) == NOW_NUMBERS
    answer = page.request.get(f"{shop.url}/campaigns/{campaign_id}/results.csv")
    header, total = (line.split(",") for line in answer.text().splitlines()[:2])
    assert answer.status == 200 and header[:3] == ["variant", "text", "recipients"]
    assert total[0] == "all" and int(total[header.index("delivered")]) == len(NOW_NUMBERS)
    check(page, "campaign")
    page.goto(f"{shop.url}/campaigns")
    check(page, "campaigns")


def test_pause_resume_then_cancel_another_and_the_modem_receives_none_of_it(shop, pages):
    send_at = shop.clock.now() + timedelta(hours=1)
    paused = shop.campaigns.create("Paused", [VariantIn("Paused today")], {"groups": ["paused"]}, send_at=send_at)
    shop.campaigns.start(paused)
    page = pages()
    _act(page, shop, paused, "pause")
    assert page.inner_text("#campaign-status") == "paused"
    _act(page, shop, paused, "resume")
    assert page.inner_text("#campaign-status") == "scheduled"  # resumed before its send_at: it waits for it again

    cancelled = shop.campaigns.create("Later", [VariantIn("Later today")], {"groups": ["later"]}, send_at=send_at)
    shop.campaigns.start(cancelled)
    page.goto(f"{shop.url}/campaigns/{cancelled}/cancel")
    assert "will be cancelled" in page.inner_text("main")
    check(page, "campaign-cancel")
    _act(page, shop, cancelled, "cancel")
    assert page.inner_text("#campaign-status") == "cancelled"
    assert shop.scheduler.get_job(jobs.job_id(cancelled)) is None  # nothing left to start it
    shop.clock.advance(2 * 3600)  # past its start time
    assert _submitted(shop, LATER_NUMBERS) == []


def test_arabic_pages_and_a_hostile_name_renders_as_text(shop, pages):
    campaign_id = shop.campaigns.create(XSS, [VariantIn("Hi")], {"groups": ["later"]})
    page = pages("ar")
    page.goto(f"{shop.url}/campaigns")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.inner_text(f'a[href="/campaigns/{campaign_id}"]') == XSS
    check(page, "campaigns-ar")
    page.goto(f"{shop.url}/campaigns/{campaign_id}")
    assert page.inner_text("h1") == XSS
    check(page, "campaign-ar")
    assert page.dialogs == [] and pages().dialogs == []
