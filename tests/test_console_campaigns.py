"""The campaigns list, a campaign's progress and results, and pause / resume / cancel / pick a
winner through Flask's test client on a real database and the real campaign service: what the pages
show is the domain's figures, each action is the service's with its audit entry, names from outside
are escaped, every change needs its CSRF token, picking a winner is for admins."""

from __future__ import annotations

import dataclasses
import re

import pytest

from gateway.campaigns.service import AbTest, Campaigns, VariantIn
from gateway.campaigns.timing import Sim
from gateway.outbound.limits import Limits
from gateway.users import audit
from web.console import nav

from .campaign_helpers import add_contacts
from .console_helpers import (  # noqa: F401  (fixtures)
    admin, admin_client, csrf_of, post_form, sign_in, staff, staff_client,
)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def web_context(web_context, queue, clock):
    campaigns = Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", Limits(per_minute=6))])
    return dataclasses.replace(web_context, campaigns=campaigns)


def run(web_context, campaign_id: int) -> None:
    for _ in range(50):  # the job's rounds, as the scheduler would run them
        if web_context.campaigns.tick(campaign_id) is None:
            return


NUMBERS = iter(range(10_000))


def _campaign(web_context, database, name: str = "Winter sale", contacts: int = 3, **kwargs) -> int:
    now = web_context.clock.now()
    add_contacts(database, [{"number": f"+44770090{next(NUMBERS):04d}"} for _ in range(contacts)], now,
                 group=f"g{name}")
    variants = kwargs.pop("variants", [VariantIn("Hi, 20% off", 1)])
    return web_context.campaigns.create(name, variants, {"groups": [f"g{name}"]}, **kwargs)


def test_the_nav_links_the_campaigns_page():
    assert {i.key: i.endpoint for i in nav.ITEMS}["campaigns"] == "console.campaigns"


def test_the_pages_need_a_login(client, web_context, database):
    campaign_id = _campaign(web_context, database)
    for path in ("/campaigns", f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}/results.csv",
                 f"/campaigns/{campaign_id}/progress"):
        got = client.get(path)
        assert got.status_code == 302 and "/login" in got.headers["Location"], path


def test_the_list_shows_every_campaign_newest_first_escaped(staff_client, web_context, database):
    first = _campaign(web_context, database, "Winter sale")
    second = _campaign(web_context, database, XSS)
    web_context.campaigns.start(first)
    run(web_context, first)
    html = staff_client.get("/campaigns").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html and "&lt;img src=x onerror" in html
    assert html.index(f"/campaigns/{second}\"") < html.index(f"/campaigns/{first}\"")
    assert "running" in html and "draft" in html
    assert 'href="/campaigns/new"' in html


def test_the_list_pages(staff_client, web_context, database, monkeypatch):
    from web.console import campaigns as page

    monkeypatch.setattr(page, "PAGE", 2)
    ids = [_campaign(web_context, database, f"c{i}", contacts=1) for i in range(3)]
    html = staff_client.get("/campaigns").get_data(as_text=True)
    assert f"/campaigns/{ids[2]}\"" in html and f"/campaigns/{ids[0]}\"" not in html
    link = re.search(r'<a [^>]*rel="next"[^>]*>', html).group(0)
    older = re.search(r'href="([^"]+)"', link).group(1).replace("&amp;", "&")
    rest = staff_client.get(older).get_data(as_text=True)
    assert f"/campaigns/{ids[0]}\"" in rest and f"/campaigns/{ids[2]}\"" not in rest


def test_progress_counts_results_and_csv(staff_client, web_context, database):
    campaign_id = _campaign(web_context, database, "=SUM(A1)", contacts=3)
    web_context.campaigns.start(campaign_id)
    run(web_context, campaign_id)
    html = staff_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'hx-get="/campaigns/%d/progress"' % campaign_id in html  # running: the partial refreshes itself
    assert "Queued</dt><dd>3</dd>" in html and "Outcomes per variant" in html
    partial = staff_client.get(f"/campaigns/{campaign_id}/progress").get_data(as_text=True)
    assert partial.startswith('<section class="panel campaign-live"') and "<html" not in partial
    csv = staff_client.get(f"/campaigns/{campaign_id}/results.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.get_data(as_text=True).splitlines()[1].startswith("all,")


def test_pause_resume_cancel_confirm_and_are_audited(staff_client, web_context, database):
    campaign_id = _campaign(web_context, database, contacts=4)
    web_context.campaigns.start(campaign_id)
    run(web_context, campaign_id)
    confirm = staff_client.get(f"/campaigns/{campaign_id}/cancel").get_data(as_text=True)
    assert "4 recipients not texted yet will be cancelled" in confirm
    assert post_form(staff_client, f"/campaigns/{campaign_id}/pause", {}).status_code == 302
    assert "paused" in staff_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    post_form(staff_client, f"/campaigns/{campaign_id}/resume", {})
    post_form(staff_client, f"/campaigns/{campaign_id}/cancel", {})
    html = staff_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "cancelled" in html and "hx-get" not in html  # finished: no more refreshing
    actions = [e.action for e in audit.recent(web_context.sessions)[:3]]
    assert actions == [audit.CAMPAIGN_CANCELLED, audit.CAMPAIGN_RESUMED, audit.CAMPAIGN_PAUSED]
    late = staff_client.get(f"/campaigns/{campaign_id}/pause").get_data(as_text=True)
    assert "Not possible now" in late


def test_a_post_without_csrf_is_refused(staff_client, web_context, database):
    campaign_id = _campaign(web_context, database)
    web_context.campaigns.start(campaign_id)
    got = staff_client.post(f"/campaigns/{campaign_id}/cancel", data={})
    assert got.status_code in (200, 400)
    with web_context.sessions() as session:
        from gateway.campaigns.models import Campaign
        assert session.get(Campaign, campaign_id).status != "cancelled"


def test_the_owner_picks_a_winner_staff_cannot(staff_client, app, admin, web_context, database):
    admin_client = app.test_client()
    assert sign_in(admin_client, "anna").status_code == 302
    campaign_id = _campaign(web_context, database, contacts=6,
                            variants=[VariantIn("Hi A", 1), VariantIn("Hi B", 1)],
                            ab_test=AbTest(50, 3600, "replies", 1))
    web_context.campaigns.start(campaign_id)
    run(web_context, campaign_id)
    staff_html = staff_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Decides at" in staff_html and "Pick this variant" not in staff_html
    token = csrf_of(staff_html) if 'name="csrf_token"' in staff_html else ""
    assert staff_client.post(f"/campaigns/{campaign_id}/winner/1", data={"csrf_token": token}).status_code == 403
    page = admin_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Pick this variant" in page
    got = admin_client.post(f"/campaigns/{campaign_id}/winner/1", data={"csrf_token": csrf_of(page)})
    assert got.status_code == 302
    assert "Winner: variant B" in admin_client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert audit.recent(web_context.sessions)[0].action == audit.CAMPAIGN_WINNER


def test_an_unknown_campaign_is_404(staff_client):
    assert staff_client.get("/campaigns/999").status_code == 404
    assert staff_client.get(f"/campaigns/{2**40}").status_code == 404
