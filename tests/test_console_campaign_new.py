"""The new-campaign page and its dry run through Flask's test client on a real database: a draft is
the campaign service's own `create` (with its audit entry), the live audience count is
`campaigns.audience.count`, the per-contact text is the domain's personalisation and footer, the
dry run pages with the API's cursor and its parts are the API preview's, "Start" starts it; text
from outside is escaped, every change needs its CSRF token and a login. (In a real browser:
test_console_campaign_new_browser.py.)"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from gateway.campaigns import audience
from gateway.campaigns.models import Campaign, Variant
from gateway.campaigns.service import Campaigns
from gateway.campaigns.timing import Sim
from gateway.outbound.limits import Limits
from gateway.users import audit

from .campaign_helpers import add_contacts
from .console_helpers import (  # noqa: F401  (fixtures)
    PASSWORD, add_user, admin, admin_client, csrf_of, post_form, sign_in, staff, staff_client,
)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def web_context(web_context, queue, clock):
    campaigns = Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", Limits(per_minute=6))])
    return dataclasses.replace(web_context, campaigns=campaigns)


@pytest.fixture
def shop(database, clock):
    now = clock.now()
    add_contacts(database, [{"number": "+447700900001", "name": "Ольга Петрова", "language": "ru"},
                            {"number": "+447700900002", "name": XSS}], now, group="vip")
    add_contacts(database, [{"number": "+447700900003", "name": "Bob"}], now, group="vip", consent="opt_out")
    add_contacts(database, [{"number": "+447700900009"}], now, group="other")


def form(**fields):
    data = {"name": "Winter sale", "groups": "vip", "text": "Hi {first_name|friend}, 20% off", "footer": "every",
            "when": "now", "template": "", "segment": "", "measure": "replies", "sample": "20", "decide_after": "24",
            "save": "1"}
    data.update(fields)
    return data


def campaigns_of(web_context):
    with web_context.sessions() as session:
        return list(session.scalars(select(Campaign)))


def test_the_audience_count_is_who_matches_and_who_may_get_marketing(shop, database, clock):
    with database.connect() as conn:
        from sqlalchemy.orm import Session
        session = Session(bind=conn)
        vip = audience.count(session, audience.resolve(session, {"groups": ["vip"]}), clock.now())
        both = audience.count(session, audience.resolve(session, {"groups": ["vip", "other"]}), clock.now())
    assert (vip.matching, vip.reachable) == (3, 2)
    assert (both.matching, both.reachable) == (4, 3)


def test_the_page_needs_a_login(client):
    answer = client.get("/campaigns/new")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert client.get("/campaigns/1/preview").status_code == 302


def test_save_makes_a_draft_with_its_audit_entry_and_shows_the_dry_run(staff_client, shop, web_context):
    answer = post_form(staff_client, "/campaigns/new", form(window_start="10:00", window_end="20:00"))
    assert answer.status_code == 302
    (campaign,) = campaigns_of(web_context)
    assert answer.headers["Location"].endswith(f"/campaigns/{campaign.id}/preview")
    assert (campaign.status, campaign.window_start, campaign.window_end, campaign.footer) == ("draft", "10:00", "20:00", True)
    assert [e.action for e in audit.recent(web_context.sessions)][0] == "campaign_created"
    page = staff_client.get(f"/campaigns/{campaign.id}/preview").get_data(as_text=True)
    assert "will be texted" not in page  # the totals walk the whole audience: loaded after the first page
    assert f'hx-get="/campaigns/{campaign.id}/preview/totals"' in page
    totals = staff_client.get(f"/campaigns/{campaign.id}/preview/totals").get_data(as_text=True)
    assert "Start now: 2 contacts will be texted." in totals and 'data-parts="' in totals
    page = staff_client.get(f"/campaigns/{campaign.id}/preview?totals=1").get_data(as_text=True)  # without a script
    assert "Start now: 2 contacts will be texted." in page
    assert "Opted out" in page
    assert XSS not in page and "&lt;script&gt;" in page


def test_errors_are_shown_per_field_and_nothing_typed_is_lost(staff_client, shop, web_context):
    answer = post_form(staff_client, "/campaigns/new", form(name="", groups="", window_start="10:00", text="Keep {this"))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="name-error"' in html and "Give the campaign a name." in html
    assert 'id="window_start-error"' in html
    assert "Keep {this" in html
    answer = post_form(staff_client, "/campaigns/new", form(groups=""))
    assert answer.status_code == 422 and 'id="groups-error"' in answer.get_data(as_text=True)
    answer = post_form(staff_client, "/campaigns/new", form(window_start="25:00", window_end="20:00"))
    assert answer.status_code == 422 and 'id="window_start-error"' in answer.get_data(as_text=True)
    assert campaigns_of(web_context) == []


def test_a_second_variant_makes_an_ab_test_and_send_at_is_in_the_shops_zone(staff_client, shop, web_context):
    answer = post_form(staff_client, "/campaigns/new", form(text_b="Hello {first_name|friend}: 25% off", sample="30",
                                                            decide_after="2", when="at", send_at="2030-07-01T09:30"))
    assert answer.status_code == 302
    (campaign,) = campaigns_of(web_context)
    with web_context.sessions() as session:
        bodies = list(session.scalars(select(Variant.body).where(Variant.campaign_id == campaign.id).order_by(Variant.seq)))
    assert bodies == ["Hi {first_name|friend}, 20% off", "Hello {first_name|friend}: 25% off"]
    assert (campaign.sample, campaign.decide_after_s, campaign.measure) == (30, 7200, "replies")
    # Europe/London is on summer time in July: 09:30 there is 08:30 UTC
    assert campaign.send_at.replace(tzinfo=campaign.send_at.tzinfo or timezone.utc) == datetime(2030, 7, 1, 8, 30, tzinfo=timezone.utc)
    totals = staff_client.get(f"/campaigns/{campaign.id}/preview/totals").get_data(as_text=True)
    assert "Start: 2 contacts will be texted from 2030-07-01 09:30 (Europe/London)." in totals


def test_the_footer_on_the_first_message_only_is_left_off_for_a_contact_texted_before(staff_client, shop, web_context):
    token = csrf_of(staff_client.get("/campaigns/new").get_data(as_text=True))

    def personal():
        return staff_client.post("/campaigns/new/personal", data={
            "csrf_token": token, "contact": "+447700900001", "text": "Hi", "footer": "first"}).get_data(as_text=True)
    assert "Hi\nСТОП — отписаться" in personal()
    web_context.queue.enqueue_many([{"to": "+447700900001", "text": "Sale", "kind": "marketing"}], source="campaign")
    assert "СТОП" not in personal() and ">Hi</p>" in personal()


def test_the_live_count_and_the_contacts_text_are_the_domains(staff_client, shop):
    token = csrf_of(staff_client.get("/campaigns/new").get_data(as_text=True))
    counted = staff_client.post("/campaigns/new/count", data={"csrf_token": token, "groups": "vip"}).get_data(as_text=True)
    assert "Contacts who match: 3" in counted and "Of them, may get marketing now: 2" in counted
    personal = staff_client.post("/campaigns/new/personal", data={
        "csrf_token": token, "contact": "+447700900001", "text": "Hi {first_name|friend}", "footer": "every"}).get_data(as_text=True)
    assert "Hi Ольга\nСТОП — отписаться" in personal and 'data-encoding="ucs2"' in personal
    escaped = staff_client.post("/campaigns/new/personal", data={
        "csrf_token": token, "contact": "+447700900002", "text": "Hi {name}", "footer": "off"}).get_data(as_text=True)
    assert XSS not in escaped and "&lt;img src=x onerror=alert(1)&gt;" in escaped


def test_the_dry_run_pages_with_the_cursor_and_its_parts_are_the_apis(staff_client, shop, web_context, client,
                                                                      make_key):
    from web.console import campaign_new

    post_form(staff_client, "/campaigns/new", form(groups="vip"))
    (campaign,) = campaigns_of(web_context)
    key = make_key("read")
    api = client.get(f"/api/v1/campaigns/{campaign.id}/preview?limit=100", headers=key.headers).json["items"]
    campaign_new.PAGE, saved = 2, campaign_new.PAGE
    try:
        first = staff_client.get(f"/campaigns/{campaign.id}/preview").get_data(as_text=True)
        cursor = re.search(r'cursor=([^"&]+)" rel="next"', first).group(1)
        rest = staff_client.get(f"/campaigns/{campaign.id}/preview?cursor={cursor}").get_data(as_text=True)
    finally:
        campaign_new.PAGE = saved
    rows = [(int(c), int(p)) for c, p in re.findall(r'<tr data-contact="(\d+)" data-parts="(\d+)"', first + rest)]
    assert rows == [(item["contact_id"], item["parts"]) for item in api]
    assert 'rel="next"' not in rest


def test_start_starts_the_draft_once_and_needs_csrf(staff_client, shop, web_context):
    post_form(staff_client, "/campaigns/new", form())
    (campaign,) = campaigns_of(web_context)
    path = f"/campaigns/{campaign.id}/preview"
    assert staff_client.post(f"/campaigns/{campaign.id}/start", data={"start": "1"}).status_code == 400
    assert campaigns_of(web_context)[0].status == "draft"
    started = post_form(staff_client, f"/campaigns/{campaign.id}/start", {"start": "1"}, page=path)
    assert started.status_code == 302 and campaigns_of(web_context)[0].status == "running"
    assert [e.action for e in audit.recent(web_context.sessions)][0] == "campaign_started"
    again = post_form(staff_client, f"/campaigns/{campaign.id}/start", {"start": "1"}, page=path, follow_redirects=True)
    assert "This campaign has started already." in again.get_data(as_text=True)


def test_a_post_without_csrf_is_refused(staff_client, shop, web_context):
    assert staff_client.post("/campaigns/new", data=form()).status_code == 400
    assert staff_client.post("/campaigns/new/count", data={"groups": "vip"}).status_code == 400
    assert campaigns_of(web_context) == []


def test_the_page_in_arabic_is_right_to_left(staff_client, shop):
    html = staff_client.get("/campaigns/new", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert 'dir="rtl"' in html and "بالمنطقة الزمنية للمتجر" in html


def test_before_saving_the_eta_spreads_the_parts_evenly_over_the_sims_within_their_limits():
    from gateway.campaigns.timing import estimated_eta

    two = {"a": Limits(per_minute=6), "b": Limits(per_minute=6)}
    assert estimated_eta(13, two) == 60.0  # 7 parts on one SIM: the seventh waits for the next minute
    assert estimated_eta(12, two) == 0.0
    assert estimated_eta(5, {}) is None  # no SIM: no estimate


def test_the_live_count_says_about_how_long_the_send_takes_once_there_is_a_text(staff_client, shop):
    token = csrf_of(staff_client.get("/campaigns/new").get_data(as_text=True))
    without = staff_client.post("/campaigns/new/count", data={"csrf_token": token, "groups": "vip"}).get_data(as_text=True)
    assert "About " not in without
    counted = staff_client.post("/campaigns/new/count", data={"csrf_token": token, "groups": "vip",
                                                              "text": "Spring sale " * 40}).get_data(as_text=True)
    assert "About 1 minute to send them all within the SIMs' limits" in counted  # 2 contacts x 4 parts, 6 a minute
