"""A/B tests, results and the footer on the first message only, end to end: the real daemon on
virtual modems, its scheduler on a FakeClock the test moves, the replies sent by the virtual
network. The assertions are on what the network received from our SIMs and on the stored rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audience.models import Contact
from gateway.campaigns import results
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, Variant
from gateway.campaigns.service import AbTest, VariantIn
from gateway.campaigns.split import Split
from gateway.inbound.models import InboundMessage

from .campaign_helpers import add_contacts
from .campaign_shop import Shop, shop_factory, start_at  # noqa: F401 (fixtures)
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(120)
PEOPLE = [{"number": f"+4477009005{i:02d}"} for i in range(1, 21)]
SEED = 20261201
DECIDE_AFTER = 3600


def text_to(shop: Shop, number: str) -> str:
    return "".join(p["text"] for p in sorted(shop.parts_to(number), key=lambda p: p["concat_seq"] or 0))


def sample_of(shop: Shop, campaign_id: int) -> dict[str, tuple[bool, int]]:
    """Each recipient's number -> (in the sample, its variant's seq), as stored."""
    with Session(shop.daemon.db) as session:
        rows = session.execute(select(Contact.number, Recipient.in_sample, Variant.seq)
                               .join(Contact, Contact.id == Recipient.contact_id)
                               .join(Variant, Variant.id == Recipient.variant_id)
                               .where(Recipient.campaign_id == campaign_id)).all()
    return {number: (in_sample, seq) for number, in_sample, seq in rows}


def figures(shop: Shop, campaign_id: int) -> dict[int, dict]:
    with Session(shop.daemon.db) as session:
        conn = session.connection()
        seqs = dict(conn.execute(select(Variant.id, Variant.seq).where(Variant.campaign_id == campaign_id)).all())
        return {seqs[vid]: f.as_dict() for vid, f in results.per_variant(conn, campaign_id).items()}


def test_the_sample_goes_first_the_replies_decide_after_a_restart_and_the_winner_goes_to_the_rest(shop_factory):
    shop = shop_factory()
    ids = add_contacts(shop.daemon.db, PEOPLE, shop.clock.now(), group="all")
    campaign_id = shop.campaigns.create("AB", [VariantIn("Offer A: 10% off"), VariantIn("Offer B: free gift")],
                                        {"groups": ["all"]},
                                        ab_test=AbTest(sample=50, decide_after_s=DECIDE_AFTER, seed=SEED))
    shop.campaigns.start(campaign_id)
    split = Split(campaign_id, (1, 1), seed=SEED, sample=50)
    expected = {p["number"]: split.assign(cid) for p, cid in zip(PEOPLE, ids, strict=True)}
    wait_until(lambda: len(sample_of(shop, campaign_id)) == len(PEOPLE), 20, "the recipients' rows")
    stored = sample_of(shop, campaign_id)
    assert {n: inside for n, (inside, _) in stored.items()} == {n: inside for n, (_, inside) in expected.items()}
    assert all(stored[n][1] == seq for n, (seq, inside) in expected.items() if inside)  # the seed's split, recorded
    sample = [n for n, (inside, _) in stored.items() if inside]
    rest = [n for n, (inside, _) in stored.items() if not inside]
    assert 5 <= len(sample) <= 15 and {stored[n][1] for n in sample} == {0, 1}  # about half, both variants
    for number in sample:
        wait_until(lambda: shop.parts_to(number), 20, f"the sample's text to {number}")
        assert text_to(shop, number) == ("Offer A: 10% off", "Offer B: free gift")[stored[number][1]]
    # the sample's messages recorded as delivered (the decision's denominators, and their status reports
    # come from this daemon's virtual network), not only received by the network
    wait_until(lambda: sum(f["delivered"] for f in figures(shop, campaign_id).values()) == len(sample), 20,
               "the sample's status reports")
    shop.settle()
    assert all(not shop.parts_to(number) for number in rest)  # the rest waits for the winner

    b_sample = [n for n in sample if stored[n][1] == 1]
    repliers = b_sample[:2]
    modem = shop.daemon.simulator.ports["sim1"].modem
    modem.inject_sms(repliers[0], "Yes please, how do I get the gift?")
    modem.inject_sms(repliers[1], "STOP")  # a reply, and an opt-out this campaign caused

    def replies_stored() -> int:
        with Session(shop.daemon.db) as session:
            return session.scalar(select(func.count()).select_from(InboundMessage)
                                  .where(InboundMessage.sender.in_(repliers)))
    wait_until(lambda: replies_stored() == 2, 20, "the two replies stored")
    first = shop
    first.stop()  # the decision job outlives the process
    shop = shop_factory()
    shop.clock.advance(DECIDE_AFTER)

    def decided() -> tuple | None:
        with Session(shop.daemon.db) as session:
            row = session.execute(select(Campaign.winner_id, Campaign.decision).where(Campaign.id == campaign_id)).one()
            return tuple(row) if row.winner_id is not None else None
    winner_id, decision = wait_until(decided, 20, "the decision")
    with Session(shop.daemon.db) as session:
        assert session.scalar(select(Variant.seq).where(Variant.id == winner_id)) == 1
    a, b = len(sample) - len(b_sample), len(b_sample)
    assert decision == f"by replies: A 0 replies of {a} sent, B 2 replies of {b} sent"
    for number in rest:
        wait_until(lambda: shop.parts_to(number), 20, f"the winner's text to {number}")
        assert text_to(shop, number) == "Offer B: free gift"
    wait_until(lambda: shop.status(campaign_id) == CampaignStatus.DONE or shop.clock.advance(60), 20, "done")
    wait_until(lambda: sum(f["delivered"] for f in figures(shop, campaign_id).values()) == len(PEOPLE), 20,
               "every message's status report")
    got = figures(shop, campaign_id)
    assert got[0]["sent"] == a and got[1]["sent"] == b + len(rest)
    assert got[0]["replies"] == 0 and got[1]["replies"] == 2 and got[1]["opt_outs"] == 1 and got[0]["opt_outs"] == 0
    assert sum(f["parts"] for f in got.values()) == len(PEOPLE)
    assert sum(sum(f["parts_per_sim"].values()) for f in got.values()) == len(PEOPLE)
    offers = ("Offer A: 10% off", "Offer B: free gift")

    def offers_to(which: Shop, number: str) -> int:
        return sum(p["text"] in offers for p in which.parts_to(number))
    assert all((offers_to(first, n), offers_to(shop, n)) == (1, 0) for n in sample)  # each texted once
    assert all((offers_to(first, n), offers_to(shop, n)) == (0, 1) for n in rest)


def test_the_first_only_footer_goes_on_the_first_campaign_counted_in_parts_and_not_on_the_second(shop_factory):
    shop = shop_factory()
    people = PEOPLE[:3]
    add_contacts(shop.daemon.db, people, shop.clock.now(), group="all")
    text = "Spring sale. " * 11  # 143 characters: one part alone, two with the footer
    footer = "\nReply STOP to opt out"

    def send(name: str) -> tuple[int, list]:
        campaign_id = shop.campaigns.create(name, [VariantIn(text)], {"groups": ["all"]}, footer=True,
                                            footer_first=True)
        with Session(shop.daemon.db) as session:
            planned, _ = shop.campaigns.dry_run(session.connection(),
                                                session.get(Campaign, campaign_id)).page(after=0, limit=10)
        before = {p["number"]: len(shop.parts_to(p["number"])) for p in people}
        shop.campaigns.start(campaign_id)
        for person in people:
            wait_until(lambda: len(shop.parts_to(person["number"])) > before[person["number"]], 20,
                       f"{name} to {person['number']}")
        wait_until(lambda: shop.status(campaign_id) == CampaignStatus.DONE or shop.clock.advance(60), 20, "done")
        return campaign_id, planned

    first, planned = send("first")
    assert [(p.text, p.parts) for p in planned] == [(text + footer, 2)] * 3
    assert all(text_to(shop, p["number"]) == text + footer and len(shop.parts_to(p["number"])) == 2 for p in people)
    second, planned = send("second")
    assert [(p.text, p.parts) for p in planned] == [(text, 1)] * 3
    assert all(len(shop.parts_to(p["number"])) == 3 for p in people)  # two parts, then one
    assert all(shop.parts_to(p["number"])[-1]["text"] == text for p in people)
    assert figures(shop, second)[0]["parts"] == 3 and figures(shop, first)[0]["parts"] == 6
