"""Campaigns on a real SQLite file and the real queue: the audience expanded once per contact with
consent applied, queueing in batches that never text anyone twice, pause/resume/cancel, the
sending window, and the dry run."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.audience.models import ContactTag, Tag
from gateway.campaigns import progress
from gateway.campaigns.models import Campaign, Recipient, RecipientState
from gateway.campaigns.service import CampaignError, Campaigns, Conflict, VariantIn
from gateway.campaigns.timing import Sim
from gateway.outbound.limits import Limits
from gateway.outbound.models import Message, MessageStatus

from .campaign_helpers import add_contacts
from .process_helpers import ProcessDied

LIMITS = Limits(per_minute=6, per_hour=120, per_day=500, min_gap_s=2.0)


@pytest.fixture
def campaigns(queue, clock):
    return Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", LIMITS), Sim("sim2", LIMITS)],
                     expand_batch=3, queue_batch=2, ahead=0)


def numbers(n: int, start: int = 1) -> list[dict]:
    return [{"number": f"+4477009{i:05d}"} for i in range(start, start + n)]


def messages(queue) -> list[Message]:
    with queue.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def recipients(queue, campaign_id: int) -> list[Recipient]:
    with queue.sessions() as session:
        return list(session.scalars(select(Recipient).where(Recipient.campaign_id == campaign_id).order_by(Recipient.id)))


def run(campaigns: Campaigns, campaign_id: int) -> None:
    """Rounds until the campaign asks for none at once (as its job would run them)."""
    for _ in range(100):
        if campaigns.tick(campaign_id) is None:
            return
    raise AssertionError("the campaign never settled")


def _sale_run(database, clock, campaigns: Campaigns, count: int) -> int:
    """A campaign to `count` new contacts (the group "all"), started, its rounds run as far as they go now."""
    add_contacts(database, numbers(count), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    return campaign_id


def test_the_audience_is_each_member_once_with_consent_applied(database, queue, clock, campaigns):
    now = clock.now()
    vip = add_contacts(database, numbers(4), now, group="vip")
    add_contacts(database, numbers(1, 10), now, group="vip", consent="opt_out")
    add_contacts(database, numbers(1, 11), now, group="vip", consent=None)
    add_contacts(database, [{"number": "+447700900012", "flag": "invalid"}], now, group="vip")
    with database.begin() as conn:  # two of the group also carry the tag: still one row each
        tag = conn.execute(insert(Tag).values(name="shoes").returning(Tag.id)).scalar_one()
        conn.execute(insert(ContactTag), [{"contact_id": vip[0], "tag_id": tag}, {"contact_id": vip[1], "tag_id": tag}])
    campaign_id = campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["vip"], "tags": ["shoes"]})
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    rows = recipients(queue, campaign_id)
    assert len(rows) == 7 == len({r.contact_id for r in rows})
    assert sorted((r.state, r.reason) for r in rows if r.state == RecipientState.SKIPPED) == [
        ("skipped", "invalid number"), ("skipped", "no consent"), ("skipped", "opted out")]
    sent = messages(queue)
    assert sorted(m.to_number for m in sent) == [f"+4477009{i:05d}" for i in range(1, 5)]
    assert {(m.kind, m.source, m.campaign_id, m.status) for m in sent} == {("marketing", "campaign", campaign_id, "queued")}
    assert {r.message_id for r in rows if r.state == RecipientState.QUEUED} == {m.id for m in sent}
    with database.connect() as conn:
        counts = progress.counts(conn, campaign_id)
    assert counts["recipients"] == 7 and counts["queued"] == 4 and counts["suppressed"] == 3


def test_a_contact_whose_stored_number_is_not_e164_is_skipped_and_the_rest_queued(database, queue, clock, campaigns):
    # the queue takes a contact's number as stored (normalised at import) and checks only its form
    add_contacts(database, [*numbers(1), {"number": "07700 900999"}, *numbers(2, 2)], clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    rows = recipients(queue, campaign_id)
    assert [(r.state, r.reason) for r in rows if r.state == RecipientState.SKIPPED] == [
        ("skipped", "to: '07700 900999' is not an E.164 number (+ and 4 to 15 digits)")]
    assert sorted(m.to_number for m in messages(queue)) == [f"+4477009{i:05d}" for i in range(1, 4)]
    assert {m.campaign_id for m in messages(queue)} == {campaign_id}


def test_two_runners_on_one_database_text_each_recipient_once(database, queue, clock, campaigns):
    add_contacts(database, numbers(9), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    other = Campaigns(queue.sessions, clock, queue, expand_batch=3, queue_batch=2, ahead=0)  # another process
    for _ in range(20):
        campaigns.tick(campaign_id)
        other.tick(campaign_id)
    sent = messages(queue)
    assert len(sent) == 9 == len({m.to_number for m in sent})
    with database.connect() as conn:
        assert conn.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == "running"  # messages wait


def test_a_batch_whose_recipients_were_queued_meanwhile_stores_nothing(database, queue, clock, campaigns):
    add_contacts(database, numbers(2), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    first = recipients(queue, campaign_id)[0]
    with pytest.raises(Conflict):  # another runner's batch, read before this one committed
        campaigns.batches.store(campaign_id, [{"to": "+447700900001", "text": "Sale today", "kind": "marketing"}], [first.id], [])
    assert len(messages(queue)) == 2
    assert recipients(queue, campaign_id)[0].message_id == first.message_id


def test_a_crash_inside_a_batch_leaves_it_pending_and_the_next_process_texts_each_once(database, queue, clock):
    add_contacts(database, numbers(7), clock.now(), group="all")
    campaigns = Campaigns(queue.sessions, clock, queue, queue_batch=3, ahead=0)
    campaign_id = campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    seen: list[int] = []

    def die_at_the_fifth(_conn, message_id: int, _status: str) -> None:
        seen.append(message_id)
        if len(seen) == 5:  # the second batch, half stored: the process dies before its commit
            raise ProcessDied()
    queue.status_hooks.append(die_at_the_fifth)
    with pytest.raises(ProcessDied):
        run(campaigns, campaign_id)
    assert len(messages(queue)) == 3  # the first batch only
    assert Counter(r.state for r in recipients(queue, campaign_id)) == {"queued": 3, "pending": 4}
    queue.status_hooks.remove(die_at_the_fifth)
    run(Campaigns(queue.sessions, clock, queue, queue_batch=3, ahead=0), campaign_id)  # the restarted process
    sent = messages(queue)
    assert len(sent) == 7 == len({m.to_number for m in sent})


def test_at_most_ahead_messages_wait_and_the_rest_follow_as_they_go(database, queue, clock):
    campaigns = Campaigns(queue.sessions, clock, queue, ahead=2)
    campaign_id = _sale_run(database, clock, campaigns, 5)
    assert len(messages(queue)) == 2
    for message in messages(queue):
        queue.cancel(message.id)  # gone from the queue (as if sent): room for more
    run(campaigns, campaign_id)
    assert len(messages(queue)) == 4


def test_pause_takes_queued_messages_back_and_resume_sends_them_once(database, queue, clock, campaigns):
    campaign_id = _sale_run(database, clock, campaigns, 3)
    assert campaigns.pause(campaign_id) == "paused"
    assert {m.status for m in messages(queue)} == {MessageStatus.CANCELLED}
    assert {r.state for r in recipients(queue, campaign_id)} == {RecipientState.PENDING}
    assert campaigns.tick(campaign_id) is None and len(messages(queue)) == 3  # a paused campaign queues nothing
    with pytest.raises(CampaignError):
        campaigns.pause(campaign_id)
    campaigns.resume(campaign_id)
    run(campaigns, campaign_id)
    live = [m for m in messages(queue) if m.status == MessageStatus.QUEUED]
    assert len(live) == 3 == len({m.to_number for m in live})
    assert {r.message_id for r in recipients(queue, campaign_id)} == {m.id for m in live}


def test_cancel_cancels_queued_and_pending_recipients(database, queue, clock):
    campaigns = Campaigns(queue.sessions, clock, queue, ahead=2)
    campaign_id = _sale_run(database, clock, campaigns, 4)
    assert campaigns.cancel(campaign_id) == "cancelled"
    assert {r.state for r in recipients(queue, campaign_id)} == {RecipientState.CANCELLED}
    assert {m.status for m in messages(queue)} == {MessageStatus.CANCELLED}
    with pytest.raises(CampaignError):
        campaigns.resume(campaign_id)


def test_the_window_queues_only_who_is_inside_it_and_takes_back_at_its_end(database, queue, clock, campaigns):
    # the clock starts at 08:00 UTC: 08:00 in London, 11:00 in Moscow
    add_contacts(database, [{"number": "+447700900001", "timezone": "Europe/London"},
                            {"number": "+447700900002", "timezone": "Europe/Moscow"}], clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale")], {"groups": ["all"]}, window=("10:00", "20:00"))
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    assert [m.to_number for m in messages(queue)] == ["+447700900002"]
    clock.advance(2 * 3600)  # 10:00 in London
    run(campaigns, campaign_id)
    assert sorted(m.to_number for m in messages(queue)) == ["+447700900001", "+447700900002"]
    clock.advance(10 * 3600 + 60)  # 20:01 in London, 23:01 in Moscow: both windows closed
    run(campaigns, campaign_id)
    assert {m.status for m in messages(queue)} == {MessageStatus.CANCELLED}
    assert {r.state for r in recipients(queue, campaign_id)} == {RecipientState.PENDING}
    clock.advance(11 * 3600)  # 07:01 UTC: 10:01 in Moscow, the next day
    run(campaigns, campaign_id)
    assert [m.to_number for m in messages(queue) if m.status == MessageStatus.QUEUED] == ["+447700900002"]


def test_the_dry_run_pages_through_the_audience_with_reasons_and_totals(database, queue, clock, campaigns):
    now = clock.now()
    add_contacts(database, [{"number": "+447700900001", "name": "Ольга", "language": "ru"},
                            {"number": "+447700900002"}, {"number": "+447700900003", "name": "Bob"}], now, group="all")
    add_contacts(database, numbers(1, 10), now, group="all", consent="opt_out")
    campaign_id = campaigns.create("sale", [VariantIn("Hi {first_name|friend}, sale today")], {"groups": ["all"]},
                                   footer=True, send_at=now + timedelta(hours=1))
    with Session(database) as session:
        dry = campaigns.dry_run(session.connection(), session.get(Campaign, campaign_id))
        first, cursor = dry.page(after=0, limit=3)
        second, end = dry.page(after=cursor, limit=3)
        totals = dry.totals()
    assert [p.to for p in first + second] == ["+447700900001", "+447700900002", "+447700900003", "+447700900010"]
    assert end is None
    olga = first[0]
    assert olga.text == "Hi Ольга, sale today\nСТОП — отписаться" and (olga.encoding, olga.parts) == ("ucs2", 1)
    assert first[1].text == "Hi friend, sale today\nReply STOP to opt out"
    assert olga.send_at == now + timedelta(hours=1) and olga.sim in ("sim1", "sim2")
    assert second[0].skip == "opted out" and second[0].sim is None and second[0].send_at is None
    assert totals["recipients"] == 4 and totals["to_send"] == 3 and totals["skipped_by_reason"] == {"opted out": 1}
    assert totals["parts"] == 3 and sum(totals["parts_per_sim"].values()) == 3
    assert totals["eta_seconds"] is not None
    assert len(messages(queue)) == 0  # a dry run writes nothing


def test_quiet_hours_move_the_earliest_time_and_the_cap_skips(database, queue, clock, campaigns):
    now = clock.now()  # 08:00 UTC = 17:00 in Tokyo; quiet hours there 21:00-08:00
    add_contacts(database, [{"number": "+447700900001", "timezone": "Asia/Tokyo"}], now, group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Sale")], {"groups": ["all"]},
                                   send_at=now + timedelta(hours=5))  # 22:00 in Tokyo
    with Session(database) as session:
        page, _ = campaigns.dry_run(session.connection(), session.get(Campaign, campaign_id)).page(after=0, limit=5)
    assert page[0].skip is None and page[0].send_at is not None
    assert page[0].send_at.astimezone(ZoneInfo("Asia/Tokyo")).hour == 8  # when quiet hours end there


def test_bad_campaigns_are_refused_with_the_field(database, queue, clock, campaigns):
    with pytest.raises(CampaignError) as caught:
        campaigns.create("x", [VariantIn("Hi {first_name")], {"groups": ["none"]})
    assert caught.value.field == "text"
    with pytest.raises(CampaignError) as caught:
        campaigns.create("x", [VariantIn("Hi")], {"groups": ["none"]})
    assert caught.value.field == "audience.groups[0]"
    with pytest.raises(CampaignError) as caught:
        campaigns.create("x", [VariantIn("Hi")], {"segment": {"bogus": 1}})
    assert caught.value.field == "audience.segment"
    with pytest.raises(CampaignError) as caught:
        campaigns.create("x", [VariantIn("Hi")], {"segment": {"tag": "a"}}, window=("25:00", "20:00"))
    assert caught.value.field == "window.start"


def test_the_rounds_come_at_the_configured_interval_and_a_restart_under_another_one_reschedules(database, queue,
                                                                                                 clock):
    """[campaigns] round_interval_s: a started campaign's job runs its rounds that far apart; at a
    start under another value its stored job is made again at the new interval."""
    from gateway.campaigns import jobs
    from gateway.scheduler.service import Scheduler

    add_contacts(database, numbers(2), clock.now(), group="all")
    every_5s = Campaigns(queue.sessions, clock, queue, round_interval_s=5.0)
    campaign_id = every_5s.create("sale", [VariantIn("Sale")], {"groups": ["all"]})
    scheduler = Scheduler(clock, database)
    scheduler.start(paused=True)
    try:
        every_5s.attach(scheduler)
        every_5s.start(campaign_id)
        assert jobs.interval_of(scheduler.get_job(jobs.job_id(campaign_id))) == 5.0
        every_5s.restore_jobs()  # the same interval: its job kept as it is
        assert jobs.interval_of(scheduler.get_job(jobs.job_id(campaign_id))) == 5.0
        by_default = Campaigns(queue.sessions, clock, queue)
        by_default.attach(scheduler)
        by_default.restore_jobs()
        assert jobs.interval_of(scheduler.get_job(jobs.job_id(campaign_id))) == jobs.TICK_S == 60.0
    finally:
        scheduler.shutdown()


def test_the_round_interval_must_be_positive():
    from gateway.core.config import ConfigError, from_dict

    assert from_dict({}).campaigns.round_interval_s == 60.0
    assert from_dict({"campaigns": {"round_interval_s": 0.5}}).campaigns.round_interval_s == 0.5
    with pytest.raises(ConfigError, match="campaigns.round_interval_s must be more than 0"):
        from_dict({"campaigns": {"round_interval_s": 0}})
