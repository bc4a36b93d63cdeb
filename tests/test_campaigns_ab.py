"""A/B tests, results and the footer on the first message only, on a real database and the real
queue (the daemon end to end: tests/test_campaigns_ab_e2e.py): the sample and its split from the
seed, the rest held until the winner, the decision's measure and ties, results within the
attribution window, the CSV a spreadsheet cannot take for formulas, and the API."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway.campaigns import ab, results
from gateway.campaigns.models import Campaign, Recipient, RecipientState, Variant
from gateway.campaigns.service import AbTest, CampaignError, Campaigns, VariantIn
from gateway.campaigns.split import Split
from gateway.campaigns.timing import Sim
from gateway.consent.models import ConsentEvent
from gateway.inbound.models import InboundMessage
from gateway.outbound.limits import Limits
from gateway.outbound.models import Message, MessageStatus, Part

from .campaign_helpers import add_contacts

LIMITS = Limits(per_minute=6, per_hour=120, per_day=500)


@pytest.fixture
def campaigns(queue, clock):
    return Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", LIMITS)], expand_batch=7, queue_batch=5,
                     ahead=0, attribution_days=2)


def numbers(n: int, start: int = 1) -> list[dict]:
    return [{"number": f"+4477009{i:05d}"} for i in range(start, start + n)]


def run(campaigns: Campaigns, campaign_id: int) -> None:
    for _ in range(100):
        if campaigns.tick(campaign_id) is None:
            return
    raise AssertionError("the campaign never settled")


def rows(queue, campaign_id: int) -> list[tuple]:
    with queue.sessions() as session:
        return session.execute(select(Recipient.contact_id, Recipient.state, Recipient.in_sample, Variant.seq,
                                      Message.text)
                               .join(Variant, Variant.id == Recipient.variant_id)
                               .outerjoin(Message, Message.id == Recipient.message_id)
                               .where(Recipient.campaign_id == campaign_id).order_by(Recipient.id)).all()


# ---- the split (pure) ---------------------------------------------------------------------------
def test_the_sample_is_its_share_split_evenly_and_the_same_seed_gives_the_same_split():
    split = Split(1, (1, 1, 1), seed=20261201, sample=20)
    drawn = [split.assign(contact_id) for contact_id in range(1, 30001)]
    sample = [index for index, inside in drawn if inside]
    assert 0.19 < len(sample) / len(drawn) < 0.21
    per_variant = Counter(sample)
    assert set(per_variant) == {0, 1, 2} and max(per_variant.values()) - min(per_variant.values()) < 0.06 * len(sample)
    assert drawn == [Split(99, (5, 1, 1), seed=20261201, sample=20).assign(c) for c in range(1, 30001)]  # the seed's
    assert drawn != [Split(1, (1, 1, 1), seed=7, sample=20).assign(c) for c in range(1, 30001)]
    assert all(Split(1, (1, 1), seed=3, sample=100).assign(c)[1] for c in range(1, 200))


@pytest.mark.parametrize("measure, scores, winner, tie", [
    ("replies", [(0, 10, 2), (1, 10, 3)], 1, False),
    ("replies", [(0, 10, 2), (1, 20, 4)], 0, True),  # the same rate: the earliest wins, and it says so
    ("replies", [(0, 20, 5), (1, 10, 3)], 1, False),  # a rate, not a count: 3 of 10 beats 5 of 20
    ("delivered", [(0, 0, 0), (1, 10, 0), (2, 10, 1)], 2, False),
    ("fewest_opt_outs", [(0, 10, 2), (1, 10, 1)], 1, False),
    ("fewest_opt_outs", [(0, 0, 0), (1, 10, 3)], 1, False),  # a variant that sent nothing cannot win
    ("fewest_opt_outs", [(0, 10, 0), (1, 10, 0), (2, 5, 0)], 0, True),
])
def test_the_winner_is_the_best_rate_and_a_tie_goes_to_the_earliest_said_in_words(measure, scores, winner, tie):
    seq, why = ab.pick([ab.Score(*s) for s in scores], measure)
    assert seq == winner
    assert ("a tie between" in why) is tie and why.startswith(f"by {measure.replace('_', ' ')}: A ")
    if tie:
        assert why.endswith(f"{ab.label(winner)}, the earliest, wins")


# ---- the A/B test on the queue -----------------------------------------------------------------
def test_only_the_sample_is_texted_until_the_owner_picks_the_winner_which_the_rest_gets(database, queue, clock,
                                                                                        campaigns):
    add_contacts(database, numbers(40), clock.now(), group="all")
    add_contacts(database, numbers(1, 90), clock.now(), group="all", consent="opt_out")
    campaign_id = campaigns.create("sale", [VariantIn("Offer A"), VariantIn("Offer B")], {"groups": ["all"]},
                                   ab_test=AbTest(sample=50, decide_after_s=3600, measure="replies", seed=11))
    with pytest.raises(CampaignError, match="once it is started"):
        campaigns.decide(campaign_id, 1)
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    split = Split(campaign_id, (1, 1), seed=11, sample=50)
    got = rows(queue, campaign_id)
    sample = [r for r in got if r.in_sample]
    assert len(got) == 41 and [r.state for r in got if r.in_sample is None] == [RecipientState.SKIPPED]
    assert {(r.contact_id, r.seq) for r in sample} == {(r.contact_id, split.assign(r.contact_id)[0]) for r in sample}
    assert {r.seq for r in sample} == {0, 1} and 10 <= len(sample) <= 30
    assert all(r.state == RecipientState.QUEUED and r.text == ("Offer A", "Offer B")[r.seq] for r in sample)
    rest = [r for r in got if r.in_sample is False]
    assert rest and all(r.state == RecipientState.HELD and r.text is None for r in rest)
    with queue.sessions() as session:
        assert session.get(Campaign, campaign_id).status == "running"  # the rest is still to come

    assert campaigns.decide(campaign_id, 1) == (1, "picked by the owner")
    with pytest.raises(CampaignError, match="decided already"):
        campaigns.decide(campaign_id, 0)
    run(campaigns, campaign_id)
    after = {r.contact_id: r for r in rows(queue, campaign_id)}
    assert all(after[r.contact_id].state == RecipientState.QUEUED and after[r.contact_id].text == "Offer B"
               and after[r.contact_id].seq == 1 for r in rest)
    assert all(after[r.contact_id].text == r.text for r in sample)  # the sample keeps its own message
    with queue.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.decision == "picked by the owner" and campaign.decided_at == clock.now()


def test_the_decision_job_decides_by_the_samples_rates_once(database, queue, clock, campaigns):
    add_contacts(database, numbers(30), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("Offer A"), VariantIn("Offer B")], {"groups": ["all"]},
                                   ab_test=AbTest(sample=60, decide_after_s=3600, measure="replies", seed=5))
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    sent_at = clock.now()
    sample = [r for r in rows(queue, campaign_id) if r.in_sample]
    with database.begin() as conn:
        conn.execute(update(Message).where(Message.campaign_id == campaign_id)
                     .values(status=MessageStatus.DELIVERED, sent_at=sent_at))
        replier = next(r.contact_id for r in sample if r.seq == 0)  # A: one reply; B: none
        conn.execute(insert(InboundMessage).values(contact_id=replier, modem="sim1", text="yes please",
                                                   received_at=sent_at + timedelta(minutes=5)))
    campaigns.decide_due(campaign_id)
    with queue.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        winner = session.scalar(select(Variant.seq).where(Variant.id == campaign.winner_id))
    a, b = (sum(1 for r in sample if r.seq == s) for s in (0, 1))
    assert winner == 0 and campaign.decision == f"by replies: A 1 replies of {a} sent, B 0 replies of {b} sent"
    campaigns.decide_due(campaign_id)  # once: a second run changes nothing
    with queue.sessions() as session:
        assert session.get(Campaign, campaign_id).decision == campaign.decision


def test_an_ab_test_needs_two_variants_a_percent_and_a_known_measure(campaigns, database, clock):
    add_contacts(database, numbers(1), clock.now(), group="all")
    one = [VariantIn("A")]
    two = [VariantIn("A"), VariantIn("B")]
    for variants, test, field in [(one, AbTest(20, 60), "variants"), (two, AbTest(0, 60), "ab_test.sample"),
                                  (two, AbTest(20, -1), "ab_test.decide_after"),
                                  (two, AbTest(20, 60, "clicks"), "ab_test.measure")]:
        with pytest.raises(CampaignError) as refused:
            campaigns.create("x", variants, {"groups": ["all"]}, ab_test=test)
        assert refused.value.field == field
    plain = campaigns.create("plain", two, {"groups": ["all"]})
    campaigns.start(plain)
    with pytest.raises(CampaignError, match="not an A/B test"):
        campaigns.decide(plain, 0)


# ---- results -----------------------------------------------------------------------------------
def test_results_count_what_happened_and_replies_and_opt_outs_only_within_the_attribution_days(
        database, queue, clock, campaigns):
    ids = add_contacts(database, numbers(6), clock.now(), group="all")
    add_contacts(database, numbers(1, 50), clock.now(), group="all", consent="opt_out")
    campaign_id = campaigns.create("sale", [VariantIn("=HYPERLINK(\"http://x\") sale")], {"groups": ["all"]})
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    went = clock.now()
    statuses = [MessageStatus.DELIVERED, MessageStatus.DELIVERED, MessageStatus.SENT, MessageStatus.FAILED,
                MessageStatus.SUPPRESSED, MessageStatus.QUEUED]
    with database.begin() as conn:
        by_contact = dict(conn.execute(select(Recipient.contact_id, Recipient.message_id)
                                       .where(Recipient.campaign_id == campaign_id, Recipient.message_id.is_not(None))).all())
        for contact_id, status in zip(ids, statuses, strict=True):
            values = {"status": status, "sim": "sim1"}
            if status not in (MessageStatus.SUPPRESSED, MessageStatus.QUEUED):
                values["sent_at"] = went
            if status == MessageStatus.SUPPRESSED:
                values["last_error"] = "frequency cap"
            conn.execute(update(Message).where(Message.id == by_contact[contact_id]).values(**values))
        days = timedelta(days=2)
        replies = [(ids[0], went + timedelta(hours=1)), (ids[0], went + timedelta(hours=2)),  # one recipient
                   (ids[1], went + days), (ids[2], went + days + timedelta(seconds=1)),  # the edge, and past it
                   (ids[3], went - timedelta(seconds=1))]  # before their message: not a reply to it
        for contact_id, at in replies:
            conn.execute(insert(InboundMessage).values(contact_id=contact_id, modem="sim1", text="hi", received_at=at))
        conn.execute(insert(ConsentEvent).values(contact_id=ids[1], kind="opt_out", scope="marketing",
                                                 source="keyword", at=went + timedelta(days=1)))
        conn.execute(insert(ConsentEvent).values(contact_id=ids[2], kind="opt_out", scope="marketing",
                                                 source="keyword", at=went + timedelta(days=3)))
        went_ids = [by_contact[c] for c, status in zip(ids, statuses, strict=True) if status in (
            MessageStatus.DELIVERED, MessageStatus.SENT, MessageStatus.FAILED)]
        conn.execute(update(Part).where(Part.message_id.in_(went_ids)).values(submitted_at=went, modem="sim1"))
    with database.connect() as conn:
        variants = [(vid, (seq, body)) for vid, seq, body in conn.execute(
            select(Variant.id, Variant.seq, Variant.body).where(Variant.campaign_id == campaign_id))]
        document = results.summary(variants, results.per_variant(conn, campaign_id, 2))
    totals = document["totals"]
    assert {k: totals[k] for k in ("recipients", "sent", "delivered", "failed", "suppressed", "queued", "replies",
                                   "opt_outs", "parts")} == {
        "recipients": 7, "sent": 3, "delivered": 2, "failed": 1, "suppressed": 2, "queued": 1, "replies": 2,
        "opt_outs": 1, "parts": 4}
    assert totals["suppressed_by_reason"] == {"opted out": 1, "frequency cap": 1}
    assert totals["parts_per_sim"] == {"sim1": 4} and document["variants"][0]["replies"] == 2
    table = list(csv.reader(io.StringIO(results.to_csv(document))))
    assert table[0][:3] == ["variant", "text", "recipients"] and "suppressed: frequency cap" in table[0]
    assert [row[0] for row in table[1:]] == ["all", "A"]
    assert table[2][1] == "'=HYPERLINK(\"http://x\") sale"  # never a formula in a spreadsheet


def test_a_csv_cell_that_a_spreadsheet_would_take_for_a_formula_is_prefixed():
    document = {"totals": results.Figures().as_dict(), "variants": [
        {"variant": i, "text": text, **results.Figures().as_dict()} for i, text in enumerate(["+1 sale", "-20%", "@me",
                                                                                             "= x", "plain"])]}
    table = list(csv.reader(io.StringIO(results.to_csv(document))))
    assert [row[1] for row in table[2:]] == ["'+1 sale", "'-20%", "'@me", "'= x", "plain"]


# ---- the footer on the first message only -------------------------------------------------------
def test_the_first_only_footer_goes_to_who_never_had_marketing_and_the_dry_run_counts_it(database, queue, clock,
                                                                                        campaigns):
    add_contacts(database, numbers(2), clock.now(), group="all")
    queue.enqueue("+447700900002", "An earlier offer", kind="marketing")  # the second had one already
    text = "x" * 140  # the footer makes it two parts
    campaign_id = campaigns.create("sale", [VariantIn(text)], {"groups": ["all"]}, footer=True, footer_first=True)
    with Session(database) as session:
        planned, _ = campaigns.dry_run(session.connection(), session.get(Campaign, campaign_id)).page(after=0, limit=5)
    assert [(p.text, p.parts) for p in planned] == [(text + "\nReply STOP to opt out", 2), (text, 1)]
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    assert [r.text for r in rows(queue, campaign_id)] == [text + "\nReply STOP to opt out", text]
    again = campaigns.create("again", [VariantIn(text)], {"groups": ["all"]}, footer=True, footer_first=True)
    campaigns.start(again)
    run(campaigns, again)
    assert [r.text for r in rows(queue, again)] == [text, text]  # the first campaign's message went before


# ---- the API -----------------------------------------------------------------------------------
@pytest.fixture
def web_context(web_context, queue, clock):
    service = Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", LIMITS)], attribution_days=3)
    return dataclasses.replace(web_context, campaigns=service)


def api(client, method: str, path: str, key, body=None):
    return client.open(f"/api/v1{path}", method=method, json=body, headers=key.headers)


def test_the_api_makes_an_ab_test_picks_its_winner_and_gives_results_as_json_and_csv(client, make_key, database,
                                                                                     clock, web_context):
    add_contacts(database, numbers(10), clock.now(), group="vip")
    key = make_key("send,read")
    made = api(client, "POST", "/campaigns", key, {
        "name": "AB", "variants": [{"text": "A text"}, {"text": "B text"}], "audience": {"groups": ["vip"]},
        "footer": "first", "ab_test": {"sample": 40, "decide_after": 7200, "measure": "delivered", "seed": 3}})
    assert made.status_code == 201, made.json
    campaign_id = made.json["id"]
    got = api(client, "GET", f"/campaigns/{campaign_id}", key).json
    assert got["footer"] == "first" and got["ab_test"] == {"sample": 40, "decide_after": 7200, "measure": "delivered",
                                                           "seed": 3, "winner": None, "decided_at": None,
                                                           "decision": None}
    assert api(client, "POST", f"/campaigns/{campaign_id}/winner", key, {"variant": 1}).status_code == 409  # a draft
    assert api(client, "POST", f"/campaigns/{campaign_id}/start", key).status_code == 202
    for _ in range(20):
        if web_context.campaigns.tick(campaign_id) is None:
            break
    held = api(client, "GET", f"/campaigns/{campaign_id}", key).json["counts"]["held"]
    assert held > 0
    assert api(client, "POST", f"/campaigns/{campaign_id}/winner", key, {"variant": 5}).json["errors"][0]["field"] == \
        "variant"
    picked = api(client, "POST", f"/campaigns/{campaign_id}/winner", key, {"variant": 1})
    assert picked.status_code == 200 and picked.json == {"id": campaign_id, "winner": 1, "decision": "picked by the owner"}
    assert api(client, "POST", f"/campaigns/{campaign_id}/winner", key, {"variant": 0}).status_code == 409
    assert api(client, "GET", f"/campaigns/{campaign_id}", key).json["ab_test"]["winner"] == 1

    out = api(client, "GET", f"/campaigns/{campaign_id}/results", key)
    assert out.status_code == 200 and out.json["attribution_days"] == 3
    assert out.json["totals"]["recipients"] == 10 and out.json["totals"]["held"] == 0
    assert [v["variant"] for v in out.json["variants"]] == [0, 1]
    table = api(client, "GET", f"/campaigns/{campaign_id}/results.csv", key)
    assert table.status_code == 200 and table.content_type.startswith("text/csv")
    assert table.text.splitlines()[1].startswith("all,,10,")
    assert api(client, "GET", "/campaigns/999/results", key).status_code == 404
    assert api(client, "GET", "/campaigns/999/results.csv", key).status_code == 404
    bad = api(client, "POST", "/campaigns", key, {"name": "x", "text": "x", "audience": {"groups": ["vip"]},
                                                  "ab_test": {"sample": 20, "decide_after": 60}})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "variants"
    spec = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/campaigns/{campaign_id}/winner", "/api/v1/campaigns/{campaign_id}/results",
            "/api/v1/campaigns/{campaign_id}/results.csv"} <= set(spec["paths"])


def test_the_migration_keeps_a_campaign_of_the_version_before(old_database):
    from sqlalchemy import JSON, Boolean, DateTime, Integer, String, column, table

    from gateway.store import db

    old = table("campaigns", column("id", Integer), column("name", String), column("status", String),
                column("audience", JSON), column("footer", Boolean), column("expanded", Boolean),
                column("created_at", DateTime), column("updated_at", DateTime))
    with old_database("0017_console_user_disabled") as (engine, conn):
        conn.execute(insert(old).values(id=1, name="old", status="done", audience={"groups": [1]}, footer=True,
                                        expanded=True, created_at=clock_at(), updated_at=clock_at()))
    db.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(Campaign.footer, Campaign.footer_first, Campaign.seed, Campaign.sample)).one()
    assert tuple(row) == (True, False, 0, None)


def clock_at():
    from datetime import UTC, datetime

    return datetime(2027, 1, 1, tzinfo=UTC).replace(tzinfo=None)


@pytest.mark.sqlite_only  # SQLite's query plans (EXPLAIN QUERY PLAN)
def test_the_results_read_every_table_through_an_index(database, queue, clock, campaigns):
    from sqlalchemy import event

    add_contacts(database, numbers(3), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("A"), VariantIn("B")], {"groups": ["all"]},
                                   ab_test=AbTest(sample=50, decide_after_s=60, seed=1))
    campaigns.start(campaign_id)
    run(campaigns, campaign_id)
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))
    event.listen(database, "before_cursor_execute", seen)
    try:
        with database.connect() as conn:
            results.per_variant(conn, campaign_id, 7, sample_only=True)
    finally:
        event.remove(database, "before_cursor_execute", seen)
    assert len(statements) == 5  # outcomes, the start, replies, opt-outs, parts
    with database.connect() as conn:
        for statement, parameters in statements:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            assert not [step for step in plan if step.startswith("SCAN")], (statement, plan)


def test_a_live_ab_test_without_its_decision_job_gets_it_back_at_the_start_plus_decide_after(database, queue, clock,
                                                                                              campaigns):
    from gateway.campaigns import jobs
    from gateway.scheduler.service import Scheduler

    add_contacts(database, numbers(2), clock.now(), group="all")
    campaign_id = campaigns.create("sale", [VariantIn("A"), VariantIn("B")], {"groups": ["all"]},
                                   ab_test=AbTest(sample=50, decide_after_s=5400, seed=1))
    started = clock.now()
    campaigns.start(campaign_id)  # no scheduler: as if the process died before its jobs were stored
    clock.advance(600)
    scheduler = Scheduler(clock, database)
    scheduler.start(paused=True)
    try:
        campaigns.attach(scheduler)
        campaigns.restore_jobs()
        assert scheduler.get_job(jobs.decision_job_id(campaign_id)).next_run_time == started + timedelta(seconds=5400)
        assert scheduler.get_job(jobs.job_id(campaign_id)) is not None
        campaigns.decide(campaign_id, 0)  # the owner's pick: the decision job goes
        assert scheduler.get_job(jobs.decision_job_id(campaign_id)) is None
        campaigns.restore_jobs()  # decided: not given back
        assert scheduler.get_job(jobs.decision_job_id(campaign_id)) is None
    finally:
        scheduler.shutdown()
