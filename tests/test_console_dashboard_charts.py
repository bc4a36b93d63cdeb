"""The dashboard's history: messages per hour and per day in the shop's timezone (DST included), replies
and opt-outs today and over 7 days, campaigns in progress with their progress bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from gateway.core.clock import FakeClock
from gateway.outbound import history
from gateway.outbound.models import Message
from tests.console_helpers import admin, admin_client, staff, staff_client  # noqa: F401

LONDON = ZoneInfo("Europe/London")
# 25 Oct 2026, 02:30 GMT: the clocks went back at 02:00 BST (01:00 UTC), so 01:00-02:00 came twice
AFTER_FALL_BACK = datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
# 29 Mar 2026, 03:30 BST: the clocks went forward at 01:00 GMT, so there was no 01:00-02:00
AFTER_SPRING_FORWARD = datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
BEFORE_FALL_BACK = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, the first 01:30 of the night
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(BEFORE_FALL_BACK.timestamp())


def _stored(queue, count: int = 1) -> list[int]:
    return [queue.enqueue("+447700900123", f"hello {i}").id for i in range(count)]


def _mark(sessions, message_id: int, **values) -> None:
    with sessions.begin() as session:
        session.execute(update(Message).where(Message.id == message_id).values(**values))


def test_the_hours_over_the_autumn_change_are_real_hours_and_01_00_comes_twice(queue, clock):
    clock.advance((AFTER_FALL_BACK - BEFORE_FALL_BACK).total_seconds())
    first_one, second_one, before = _stored(queue, 3)
    _mark(queue.sessions, first_one, sent_at=datetime(2026, 10, 25, 0, 15, tzinfo=UTC))  # 01:15 BST
    _mark(queue.sessions, second_one, sent_at=datetime(2026, 10, 25, 1, 15, tzinfo=UTC), status="delivered",
          finished_at=datetime(2026, 10, 25, 1, 20, tzinfo=UTC))  # 01:15 GMT
    _mark(queue.sessions, before, sent_at=datetime(2026, 10, 24, 2, 0, tzinfo=UTC), status="failed",
          finished_at=datetime(2026, 10, 24, 2, 5, tzinfo=UTC))  # 03:00 BST, out of the 24 hours
    with queue.sessions() as session:
        hours = history.per_hour(session.connection(), clock.now(), LONDON)
        days = history.per_day(session.connection(), clock.now(), LONDON)
    labels = [s.strftime("%H") for s in hours.starts]
    assert len(labels) == 24 and labels[-4:] == ["00", "01", "01", "02"]
    assert hours.counts["sent"][-3:] == (1, 1, 0) and sum(hours.counts["sent"]) == 2
    assert hours.counts["delivered"][-2] == 1 and sum(hours.counts["failed"]) == 0
    bounds = history.day_bounds(clock.now(), LONDON)
    assert bounds[-1] - bounds[-2] == timedelta(hours=25) and bounds[-2] - bounds[-3] == timedelta(hours=24)
    assert days.starts[-1].date().isoformat() == "2026-10-25"
    assert days.counts["sent"][-2:] == (1, 2) and days.counts["failed"][-2:] == (1, 0)


def test_the_spring_day_has_23_hours_and_no_01_00():
    hours = history.hour_bounds(AFTER_SPRING_FORWARD, LONDON)
    labels = [b.astimezone(LONDON).strftime("%H") for b in hours[:-1]]
    assert labels[-3:] == ["00", "02", "03"] and "01" not in labels[-5:]
    assert hours[-1] == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)  # the end of the current local hour 03:00-04:00
    days = history.day_bounds(AFTER_SPRING_FORWARD, LONDON)
    assert days[-1] - days[-2] == timedelta(hours=23)


def test_a_half_hour_zone_starts_its_hours_at_half_past_utc():
    bounds = history.hour_bounds(datetime(2026, 6, 1, 10, 45, tzinfo=UTC), ZoneInfo("Asia/Kolkata"))
    assert bounds[-2] == datetime(2026, 6, 1, 10, 30, tzinfo=UTC) and len(bounds) == 25


def _received(sessions, at: datetime, text: str = "hi", sender: str = "+447700900111") -> None:
    from gateway.inbound.models import InboundMessage

    with sessions.begin() as session:
        session.add(InboundMessage(modem="shop1", sender=sender, text=text, received_at=at))


def test_the_dashboard_shows_the_charts_replies_and_opt_outs(admin_client, web_context, queue, clock):
    (sent,) = _stored(queue)
    _mark(queue.sessions, sent, sent_at=clock.now() - timedelta(minutes=10))
    _received(web_context.sessions, clock.now() - timedelta(minutes=5))  # today
    _received(web_context.sessions, clock.now() - timedelta(days=3))  # this week
    _received(web_context.sessions, clock.now() - timedelta(days=9))  # neither
    web_context.audience.opt_out("+447700900222", source="staff")
    page = admin_client.get("/").get_data(as_text=True)
    assert '<dd id="replies-today">1</dd>' in page and '<dd id="replies-week">2</dd>' in page
    assert '<dd id="opt-outs-today">1</dd>' in page and '<dd id="opt-outs-week">1</dd>' in page
    assert page.count('role="img"') >= 2 and "chart-hourly-title" in page and "chart-daily-title" in page
    assert '<rect class="chart-bar sent"' in page and "<title>01:00: Sent 1</title>" in page
    assert 'href="/inbox"' in page and 'href="/contacts"' in page


def test_the_charts_and_figures_are_translated(admin_client):
    page = admin_client.get("/", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "الردود اليوم" in page and "الرسائل في الساعة، آخر 24 ساعة" in page and "Replies today" not in page


def _campaign(sessions, clock, name: str, status: str = "running") -> int:
    from gateway.campaigns.models import Campaign

    with sessions.begin() as session:
        campaign = Campaign(name=name, status=status, audience={}, created_at=clock.now(), updated_at=clock.now(),
                            started_at=clock.now())
        session.add(campaign)
        session.flush()
        return campaign.id


def test_campaigns_in_progress_show_a_bar_and_their_name_escaped(
        admin_client, web_context, clock):
    _campaign(web_context.sessions, clock, XSS)
    _campaign(web_context.sessions, clock, "Paused sale", "paused")
    _campaign(web_context.sessions, clock, "Finished", "done")
    page = admin_client.get("/").get_data(as_text=True)
    assert page.count("<progress ") == 2 and "Finished" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert 'onerror="alert(2)"' not in page
    assert "0 of 0 recipients" in page and "Paused sale" in page


def test_a_campaign_in_progress_links_to_its_page(admin_client, web_context, clock):
    campaign_id = _campaign(web_context.sessions, clock, "Spring sale")
    page = admin_client.get("/").get_data(as_text=True)
    assert f'<a href="/campaigns/{campaign_id}" dir="auto">Spring sale</a>' in page
    assert admin_client.get(f"/campaigns/{campaign_id}").status_code == 200


def test_the_dashboard_needs_a_login(app, admin, staff_client):
    assert app.test_client().get("/").status_code in (302, 401)
    assert "Replies today" in staff_client.get("/").get_data(as_text=True)


def test_the_migration_adds_the_indexes_the_counts_read(old_database):
    from sqlalchemy import inspect

    from gateway.store import db

    with old_database("0018_campaign_ab_tests") as (engine, _connection):
        pass
    db.upgrade(engine)
    names = {index["name"] for index in inspect(engine).get_indexes("messages")}
    assert {"ix_messages_sent_at", "ix_messages_status_finished"} <= names


def test_a_running_campaigns_bar_counts_the_recipients_dealt_with(admin_client, database, queue, clock):
    from gateway.campaigns import progress
    from gateway.campaigns.service import Campaigns, VariantIn
    from gateway.campaigns.timing import Sim
    from gateway.outbound.limits import Limits
    from tests.campaign_helpers import add_contacts

    campaigns = Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", Limits(per_minute=60))], ahead=0)
    add_contacts(database, [{"number": f"+44770090{i:04d}"} for i in range(1, 4)], clock.now(), group="all")
    campaign_id = campaigns.create("Autumn sale", [VariantIn("Sale")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    for _ in range(20):
        if campaigns.tick(campaign_id) is None:
            break
    with queue.sessions() as session:
        (first, *_rest) = session.scalars(select(Message.id).where(Message.campaign_id == campaign_id)
                                          .order_by(Message.id)).all()
    _mark(queue.sessions, first, status="delivered", sent_at=clock.now(), finished_at=clock.now())
    with queue.sessions() as session:
        (shown,) = progress.in_progress(session.connection())
    assert (shown.id, shown.name, shown.done, shown.total) == (campaign_id, "Autumn sale", 1, 3)
    page = admin_client.get("/").get_data(as_text=True)
    assert '<progress max="3" value="1"' in page and "1 of 3 recipients" in page


def test_the_page_across_the_autumn_change_shows_01_00_twice_each_with_its_own_messages(admin_client, queue, clock):
    first, second = _stored(queue, 2)
    _mark(queue.sessions, first, sent_at=clock.now())  # 01:30 BST
    clock.advance(3600)  # 01:30 GMT: the clocks went back meanwhile
    _mark(queue.sessions, second, sent_at=clock.now())
    page = admin_client.get("/").get_data(as_text=True)
    hourly = page[page.index('id="chart-hourly-title"'):page.index('id="chart-daily-title"')]
    assert hourly.count('<tr><th scope="row">01:00</th><td>1</td><td>0</td><td>0</td></tr>') == 2
    assert "<title>01:00: Sent 1</title>" in hourly
    daily = page[page.index('id="chart-daily-title"'):]
    assert '<tr><th scope="row">25 Oct</th><td>2</td>' in daily


def test_the_dashboard_refreshes_itself_with_its_body_alone(app, admin_client, web_context, clock):
    page = admin_client.get("/").get_data(as_text=True)
    assert 'hx-get="/dashboard/live" hx-trigger="every 30s"' in page
    _campaign(web_context.sessions, clock, "Arrived since")
    live = admin_client.get("/dashboard/live")
    body = live.get_data(as_text=True)
    assert live.status_code == 200 and body.lstrip().startswith('<div id="dashboard-live"')
    assert "Arrived since" in body and "<html" not in body  # what changed, without the page around it
    assert app.test_client().get("/dashboard/live").status_code in (302, 401)  # a login first
