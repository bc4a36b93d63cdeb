"""The new-campaign page and its dry run in a real browser (Playwright driving Debian's Chromium, the
console's own CSP in force) against the real daemon on virtual modems, its scheduler on a FakeClock:
a campaign made on the page with a second variant and a window, the live audience count and part
counter, its dry run whose parts are the API preview's, "Start", and the virtual network receiving
every recipient's text once; axe and screenshots (390/1280 px, en and ar); hostile names as text.

Every wait is for the thing then asserted: the count's and the counter's fragments for what was
chosen and typed, the personal preview for the number entered, the totals fragment, each message's
"sent" from the queue's status listeners, the scheduler's sweep after the clock moved.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from gateway.apikeys import keys
from gateway.campaigns.models import Campaign
from gateway.core.clock import FakeClock
from gateway.outbound.models import Message

from .browser_helpers import (  # noqa: F401  (fixture)
    XSS, assert_signed_out_are_sent_to_login, assert_xss_shown_as_text, browser, check, console_daemon,
    pages_fixture)
from .campaign_helpers import add_contacts
from .campaign_shop import FAST, MORNING, settle

pytestmark = pytest.mark.timeout(240)
CUSTOMERS = [
    {"number": "+447700901001", "name": "Ольга Петрова", "language": "ru"},
    {"number": "+447700901002", "name": "王芳", "language": "zh"},
    {"number": "+447700901003", "name": XSS},
    {"number": "+447700901004"},
]
OPTED_OUT = "+447700901099"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    clock = FakeClock(MORNING)  # 09:00 in London: inside the window, outside quiet hours
    with console_daemon(tmp_path_factory.mktemp("console-campaign-new"), clock, 2, gateway={"timezone": "Europe/London"},
                        modems=[{"name": "limits", "port": "unused", "limits": FAST}]) as daemon:
        now = clock.now()
        add_contacts(daemon.db, CUSTOMERS, now, group="vip")
        add_contacts(daemon.db, [{"number": OPTED_OUT, "name": "Never"}], now, group="vip", consent="opt_out")
        daemon.key = keys.create(daemon.queue.sessions, clock, "test", "read").token
        yield daemon


# Pages with the console's CSP in force, unless asked for with bypass_csp=True.
pages = pages_fixture(bypass_csp=False)


def _fill(page, shop, name: str) -> None:
    """The form filled as staff would, each live fragment waited for as it answers."""
    page.goto(f"{shop.url}/campaigns/new")
    page.fill("#name", name)
    with page.expect_response(lambda r: r.url.endswith("/campaigns/new/count")):
        page.select_option("#groups", ["vip"])
    page.wait_for_selector("#campaign-count .matching")
    text = "Hi {first_name|friend}, 20% off today"
    page.fill("#text", text)
    page.wait_for_selector(f'#counter[data-length="{len(text)}"]', state="attached")
    page.fill("#text_b", "Hello {first_name|friend}: 25% off this week")
    page.fill("#sample", "100")
    page.fill("#decide_after", "24")
    page.fill("#window_start", "08:00")
    page.fill("#window_end", "22:00")
    page.fill("#contact", CUSTOMERS[0]["number"])
    page.wait_for_selector("#campaign-personal [data-personal-text]")


def test_a_campaign_made_on_the_page_is_dry_run_started_and_each_recipient_texted_once(shop, pages):
    page = pages()
    _fill(page, shop, "Winter sale")
    assert "Contacts who match: 5" in page.inner_text("#campaign-count")
    assert "Of them, may get marketing now: 4" in page.inner_text("#campaign-count")
    assert page.get_attribute("#counter [data-parts]", "data-parts") == "1"
    assert page.inner_text("#campaign-personal [data-personal-text]") == "Hi Ольга, 20% off today\nСТОП — отписаться"
    assert page.get_attribute("#campaign-personal [data-encoding]", "data-encoding") == "ucs2"
    with page.expect_navigation():
        page.click("#save")
    assert "/preview" in page.url, page.inner_text("main")
    campaign_id = int(page.url.split("/campaigns/")[1].split("/")[0])
    page.wait_for_selector("#campaign-totals [data-to-send]")  # htmx loaded the totals after the page
    assert page.get_attribute("#campaign-totals [data-to-send]", "data-to-send") == "4"
    rows = page.locator("table.dry-run tbody tr")
    said = {rows.nth(i).get_attribute("data-contact"): int(rows.nth(i).get_attribute("data-parts"))
            for i in range(rows.count())}
    api = page.request.get(f"{shop.url}/api/v1/campaigns/{campaign_id}/preview?limit=100",
                           headers={"Authorization": f"Bearer {shop.key}"}).json()["items"]
    assert said == {str(item["contact_id"]): item["parts"] for item in api}
    reason = page.locator("table.dry-run .skip-reason")
    assert reason.all_inner_texts() == ["Opted out"]
    box = reason.bounding_box()
    assert box["x"] >= 0 and box["width"] > 0  # on the screen, not moved out of sight
    assert "4 contacts will be texted" in page.inner_text("#campaign-totals")
    with page.expect_navigation():
        page.click("#start")
    with shop.queue.sessions() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) in ("running", "done")
    settle(shop)
    with shop.queue.sessions() as session:
        ids = list(session.scalars(select(Message.id).where(Message.campaign_id == campaign_id)))
    assert len(ids) == 4
    shop.statuses.wait(ids, "sent")  # every part of each was accepted by the network by then
    submitted = [e for e in shop.simulator.network.record.submitted if e["recipient"].startswith("+4477009010")]
    firsts = Counter(e["recipient"] for e in submitted if e["concat_seq"] in (None, 1))
    assert firsts == {c["number"]: 1 for c in CUSTOMERS}
    by_number = {item["to"]: item["parts"] for item in api if item["skip"] is None}
    assert Counter(e["recipient"] for e in submitted) == by_number


def test_errors_are_said_per_field_and_what_was_typed_stays(shop, pages):
    page = pages()
    page.goto(f"{shop.url}/campaigns/new")
    page.fill("#text", "Keep this text")
    page.fill("#window_start", "10:00")
    with page.expect_navigation():
        page.click("#save")
    assert page.locator("#name-error").count() == 1 and page.locator("#window_start-error").count() == 1
    assert page.input_value("#text") == "Keep this text"
    check(page, "campaign-new-errors")


def test_each_page_passes_axe_and_is_photographed_in_english_and_arabic(shop, pages):
    with shop.queue.sessions() as session:
        campaign_id = session.scalar(select(Campaign.id).order_by(Campaign.id))
    for language in ("en", "ar"):
        page = pages(language)
        suffix = "" if language == "en" else "-ar"
        _fill(page, shop, "Photo")
        check(page, f"campaign-new{suffix}")
        with page.expect_navigation():
            page.click("#save")
        page.wait_for_selector("#campaign-totals [data-to-send]")
        assert page.locator("#start").count() == 1  # a draft: the confirmation and its button
        check(page, f"campaign-preview{suffix}")
        page.goto(f"{shop.url}/campaigns/{campaign_id}/preview?totals=1")  # started: no button
        assert page.locator("#start").count() == 0
        check(page, f"campaign-preview-started{suffix}")


def test_hostile_names_render_as_text(shop, pages):
    page = pages(bypass_csp=True)  # the escaping itself must stop it, not only the policy
    with shop.queue.sessions() as session:
        campaign_id = session.scalar(select(Campaign.id).order_by(Campaign.id))
    page.goto(f"{shop.url}/campaigns/{campaign_id}/preview?totals=1")
    assert_xss_shown_as_text(page, "table.dry-run")
    page.goto(f"{shop.url}/campaigns/new")
    page.fill("#text", "Hi {name}")
    page.fill("#contact", CUSTOMERS[2]["number"])
    page.wait_for_selector("#campaign-personal [data-personal-text]")
    assert page.dialogs == [] and page.locator("main img").count() == 0
    assert XSS in page.inner_text("#campaign-personal")


def test_the_pages_need_a_login_and_a_post_needs_its_token(shop, browser, pages):
    assert_signed_out_are_sent_to_login(browser, shop.url, ("/campaigns/new", "/campaigns/1/preview"))
    with shop.queue.sessions() as session:
        before = session.scalar(select(Campaign.id).order_by(Campaign.id.desc()))
    answer = pages().request.post(f"{shop.url}/campaigns/new", form={"name": "x", "groups": "vip", "text": "x", "save": "1"})
    assert answer.status == 400
    with shop.queue.sessions() as session:
        assert session.scalar(select(Campaign.id).order_by(Campaign.id.desc())) == before
