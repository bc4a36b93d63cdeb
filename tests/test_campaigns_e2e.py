"""Campaigns end to end: the real daemon (gateway.daemon.Daemon) on virtual modems, its scheduler
on a FakeClock the test moves, the campaign's job in the database job store. The assertions are on
what the virtual network received from our SIMs (its submit record) and on the recipients' rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.campaigns import jobs, progress
from gateway.campaigns.models import Campaign, CampaignStatus
from gateway.campaigns.service import VariantIn
from gateway.outbound.models import Message

from .campaign_helpers import add_contacts
from .campaign_shop import FAST, Shop, shop_factory, start_at  # noqa: F401 (fixtures)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(90)
CUSTOMERS = [
    {"number": "+447700900201", "name": "Ольга Петрова", "language": "ru"},
    {"number": "+447700900202", "name": "أمل خليل", "language": "ar"},
    {"number": "+447700900203", "name": "王芳", "language": "zh"},
    {"number": "+447700900204", "fields": {"city": "Leeds"}},
]
NUMBERS = [c["number"] for c in CUSTOMERS]
OPTED_OUT = "+447700900299"


NIGHT = datetime(2027, 1, 14, 23, 0, tzinfo=UTC).timestamp()  # quiet hours in London until 08:00


def started(shop: Shop, name: str, text: str, **options) -> int:
    """A campaign of one text to the vip group, started."""
    campaign_id = shop.campaigns.create(name, [VariantIn(text)], {"groups": ["vip"]}, **options)
    shop.campaigns.start(campaign_id)
    return campaign_id


def seed(shop: Shop) -> None:
    now = shop.clock.now()
    add_contacts(shop.daemon.db, CUSTOMERS, now, group="vip")
    add_contacts(shop.daemon.db, [{"number": OPTED_OUT, "name": "Never"}], now, group="vip", consent="opt_out")


def test_a_scheduled_campaign_fires_once_personal_with_the_footer_and_the_dry_runs_parts(shop_factory):
    shop = shop_factory()
    seed(shop)
    start = shop.clock.now() + timedelta(hours=1)
    campaign_id = shop.campaigns.create("Winter sale", [VariantIn("Hi {first_name|friend}, 20% off in {city|our shops}")],
                                        {"groups": ["vip"]}, send_at=start, footer=True)
    with Session(shop.daemon.db) as session:
        planned, _ = shop.campaigns.dry_run(session.connection(), session.get(Campaign, campaign_id)).page(after=0, limit=10)
    assert shop.campaigns.start(campaign_id) == CampaignStatus.SCHEDULED
    shop.clock.advance(1800)  # half way: nothing yet
    shop.settle()
    assert shop.daemon.simulator.network.record.submitted == []
    shop.clock.advance(1800)
    shop.wait_texted(NUMBERS)
    by_number = {p.to: p for p in planned}
    for customer in CUSTOMERS:
        parts = shop.parts_to(customer["number"])
        assert len(parts) == by_number[customer["number"]].parts  # the dry run's count is what went
        assert "".join(p["text"] for p in sorted(parts, key=lambda p: p["concat_seq"] or 0)) == by_number[customer["number"]].text
    texts = {c["number"]: "".join(p["text"] for p in shop.parts_to(c["number"])) for c in CUSTOMERS}
    assert texts["+447700900201"] == "Hi Ольга, 20% off in our shops\nСТОП — отписаться"
    assert texts["+447700900202"].startswith("Hi أمل, 20% off") and texts["+447700900202"].endswith("أرسل إلغاء")
    assert texts["+447700900203"] == "Hi 王芳, 20% off in our shops\n回复退订取消"
    assert texts["+447700900204"] == "Hi friend, 20% off in Leeds\nReply STOP to opt out"
    assert shop.parts_to(OPTED_OUT) == [] and by_number[OPTED_OUT].skip == "opted out"
    shop.wait_done(campaign_id)
    shop.clock.advance(3 * 86400)  # days later: it never fires again
    shop.settle()
    assert Counter(e["recipient"] for e in shop.daemon.simulator.network.record.submitted
                   if e["concat_seq"] in (None, 1)) == {c["number"]: 1 for c in CUSTOMERS}
    assert shop.daemon.scheduler.get_job(jobs.job_id(campaign_id)) is None


def test_a_campaign_due_while_the_daemon_was_stopped_starts_when_it_is_back_and_only_once(shop_factory):
    first = shop_factory()
    seed(first)
    campaign_id = started(first, "sale", "Sale today", send_at=first.clock.now() + timedelta(minutes=30))
    first.stop()
    first.clock.advance(2 * 3600)  # the box was off over the start time
    second = shop_factory()
    second.wait_texted(NUMBERS)
    second.wait_done(campaign_id)
    second.stop()
    third = shop_factory()  # and once more: nothing is sent again
    third.clock.advance(3600)
    third.settle()
    assert third.daemon.simulator.network.record.submitted == []
    with third.daemon.queue.sessions() as session:
        numbers = [m.to_number for m in session.scalars(select(Message).where(Message.campaign_id == campaign_id))]
    assert sorted(numbers) == sorted(c["number"] for c in CUSTOMERS)


def test_pause_resume_and_cancel_on_the_running_daemon(shop_factory):
    shop = shop_factory()
    seed(shop)
    campaign_id = started(shop, "sale", "Sale today", send_at=shop.clock.now() + timedelta(minutes=10))
    assert shop.campaigns.pause(campaign_id) == CampaignStatus.PAUSED
    shop.clock.advance(3600)  # its start time passes while paused: nothing goes
    shop.settle()
    assert shop.daemon.simulator.network.record.submitted == []
    shop.campaigns.resume(campaign_id)
    shop.wait_texted(NUMBERS)
    with pytest.raises(ValueError):
        shop.campaigns.resume(campaign_id)
    other = started(shop, "later", "Later", send_at=shop.clock.now() + timedelta(hours=1))
    assert shop.campaigns.cancel(other) == CampaignStatus.CANCELLED
    shop.clock.advance(7200)
    shop.settle()
    assert all(p["text"] != "Later" for p in shop.daemon.simulator.network.record.submitted)


@pytest.mark.parametrize("start_at", [NIGHT])
def test_a_member_who_opts_out_mid_campaign_is_never_texted(shop_factory):
    shop = shop_factory()
    seed(shop)
    campaign_id = started(shop, "sale", "Sale from 08:00")  # queued now; the send-time check defers them to 08:00
    leaving = CUSTOMERS[1]["number"]
    wait_until(lambda: len(shop.daemon.queue.depth()) and shop.daemon.queue.depth().get("queued") == len(CUSTOMERS),
               20, "the campaign's messages queued")
    shop.daemon.simulator.ports["sim1"].modem.inject_sms(leaving, "STOP")
    wait_until(lambda: shop.parts_to(leaving), 20, "the STOP confirmation")
    assert "تم إلغاء اشتراكك" in shop.parts_to(leaving)[0]["text"]  # the confirmation, in their language
    shop.clock.advance(datetime(2027, 1, 15, 8, 1, tzinfo=UTC).timestamp() - NIGHT)
    for customer in CUSTOMERS:
        if customer["number"] != leaving:
            wait_until(lambda: shop.parts_to(customer["number"]), 20, f"the sale to {customer['number']}")

    def leavers_message() -> str:
        with shop.daemon.queue.sessions() as session:
            return session.scalar(select(Message.status).where(Message.campaign_id == campaign_id,
                                                               Message.to_number == leaving))
    wait_until(lambda: leavers_message() == "suppressed", 20, "the leaver's message suppressed")
    assert all("Sale" not in p["text"] for p in shop.parts_to(leaving))  # the confirmation only, never the sale
    with Session(shop.daemon.db) as session:
        counts = progress.counts(session.connection(), campaign_id)
    assert counts["suppressed"] == 2  # the opted-out member skipped, the leaver suppressed at send time
    assert counts["opt_outs"] == 0  # the leaver's STOP came before any campaign message went: not caused by it


def test_the_window_pauses_at_its_end_and_resumes_the_next_day_in_the_contacts_zone(shop_factory):
    shop = shop_factory(modems=1, limits={**FAST, "per_day": 2})  # two a day: the third waits
    people = [{"number": f"+44770090030{i}", "timezone": "Europe/London"} for i in range(1, 4)]
    add_contacts(shop.daemon.db, people, shop.clock.now(), group="vip")
    campaign_id = started(shop, "sale", "Sale 10-20", window=("10:00", "20:00"))
    shop.settle()  # 09:00 in London: before the window
    assert shop.daemon.simulator.network.record.submitted == []
    shop.clock.advance(3600)  # 10:02
    wait_until(lambda: len(shop.daemon.simulator.network.record.submitted) == 2, 20, "two sends within the limit")
    third = next(p["number"] for p in people if not shop.parts_to(p["number"]))

    def messages_to(number: str) -> list[str]:
        with shop.daemon.queue.sessions() as session:
            return list(session.scalars(select(Message.status).where(Message.to_number == number).order_by(Message.id)))
    assert messages_to(third) == ["queued"]  # waiting for the SIM's day
    shop.clock.advance(10 * 3600)  # 20:02: the window closed with the third still queued
    wait_until(lambda: messages_to(third) == ["cancelled"], 20, "the third taken back at the window's end")
    shop.clock.advance(14 * 3600)  # 10:02 the next day: the window opens and the SIM's day has passed
    wait_until(lambda: shop.parts_to(third), 20, "the third sent the next day")
    assert messages_to(third)[0] == "cancelled" and len(shop.parts_to(third)) == 1
    shop.wait_done(campaign_id)


def test_a_scheduled_campaign_paused_and_resumed_before_its_time_still_waits_for_it(shop_factory):
    shop = shop_factory()
    seed(shop)
    send_at = shop.clock.now() + timedelta(hours=1)
    campaign_id = shop.campaigns.create("later", [VariantIn("Opening at noon")], {"groups": ["vip"]}, send_at=send_at)
    assert shop.campaigns.start(campaign_id) == CampaignStatus.SCHEDULED
    shop.campaigns.pause(campaign_id)
    assert shop.campaigns.resume(campaign_id) == CampaignStatus.SCHEDULED  # resumed before its time
    shop.clock.advance(1800)
    shop.settle()
    assert shop.daemon.simulator.network.record.submitted == []  # half an hour early: nothing goes
    shop.clock.advance(1801)
    shop.wait_texted(NUMBERS)


def test_a_round_for_a_campaign_cancelled_meanwhile_drops_its_job_and_queues_nothing(shop_factory):
    shop = shop_factory()
    seed(shop)
    campaign_id = started(shop, "gone", "Never sent", send_at=shop.clock.now() + timedelta(hours=1))
    shop.campaigns.cancel(campaign_id)
    jobs.schedule(shop.campaigns.scheduler, campaign_id, shop.clock.now() + timedelta(hours=1))  # a round still due
    assert shop.campaigns.tick(campaign_id) is None  # the round that fires after the cancel
    assert shop.campaigns.scheduler.get_job(jobs.job_id(campaign_id)) is None
    with shop.daemon.queue.sessions() as session:
        assert session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all() == []
