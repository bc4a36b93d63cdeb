"""Audience and consent end to end: the real daemon (gateway.daemon.Daemon) on two virtual modems.

Customers text keywords into the virtual modems; the tests assert on the consent ledger, on what the
virtual network actually received from our SIMs (its submit record), and on message states. Time for
quiet hours and caps comes from a FakeClock the test moves; the modems run in real time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.audience.contacts import groups_of
from gateway.audience.models import Contact
from gateway.consent import keyword_store
from gateway.consent.models import ConsentEvent
from gateway.core.clock import FakeClock
from gateway.inbound.models import InboundMessage
from gateway.outbound.models import MessageStatus

from .daemon_helpers import build_daemon
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(60)
NIGHT = datetime(2027, 1, 15, 23, 0, tzinfo=UTC).timestamp()  # 23:00 in London: quiet hours
MORNING = datetime(2027, 1, 16, 8, 0, tzinfo=UTC).timestamp()
FAST = {"per_minute": 1000, "per_hour": 10000, "per_day": 100000, "per_month": 1000000, "min_gap_s": 0}


class Shop:
    def __init__(self, tmp_path, *, start: float, consent: dict | None = None) -> None:
        self.clock = FakeClock(start)
        self.daemon = build_daemon(tmp_path, self.clock, 2, gateway={"timezone": "Europe/London"},
                                   consent=consent or {},
                                   modems=[{"name": "limits", "port": "unused", "limits": FAST}])
        self.daemon.start()
        assert self.daemon.wait_ready(20)
        self.queue = self.daemon.queue

    def text_in(self, sim: str, sender: str, text: str, *, split: bool = False) -> None:
        self.daemon.simulator.ports[sim].modem.inject_sms(sender, text, split=split)

    def sent_to(self, number: str) -> list[dict]:
        """Whole messages the network took for `number` (parts joined), in order; incomplete ones left out."""
        messages: dict[tuple, dict] = {}
        for entry in self.daemon.simulator.network.record.submitted:
            if entry["recipient"] != number:
                continue
            key = (entry["modem"], entry["concat_ref"]) if entry["concat_ref"] is not None else (len(messages),)
            message = messages.setdefault(key, {"modem": entry["modem"], "parts": {}, "total": entry["concat_total"]})
            message["parts"][entry["concat_seq"]] = entry["text"]
        return [{"modem": m["modem"], "text": "".join(m["parts"][i] for i in sorted(m["parts"]))}
                for m in messages.values() if len(m["parts"]) == m["total"]]

    def ledger(self, number: str) -> list[tuple[str, str, str]]:
        with self.queue.sessions() as session:
            return [tuple(r) for r in session.execute(
                select(ConsentEvent.kind, ConsentEvent.scope, ConsentEvent.source).join(Contact)
                .where(Contact.number == number).order_by(ConsentEvent.id)).all()]

    def status(self, message_id: int) -> str:
        return self.queue.get(message_id).status

    def wait_status(self, message_id: int, *statuses: str) -> None:
        wait_until(lambda: self.status(message_id) in statuses, 15,
                   f"message {message_id} to become {statuses} (is {self.status(message_id)})")

    def stop(self) -> None:
        self.daemon.stop()


@pytest.fixture
def shop_factory(tmp_path):
    shops: list[Shop] = []

    def make(**kwargs) -> Shop:
        shop = Shop(tmp_path, **kwargs)
        shops.append(shop)
        return shop
    yield make
    for shop in shops:
        shop.stop()


CUSTOMERS = {  # number: (text, the SIM they write to, words of the confirmation)
    "+447700900101": ("Stop.", "sim1", "You have been unsubscribed"),
    "+447700900102": ("СТОП", "sim2", "Вы отписались"),
    "+447700900103": ("退订", "sim1", "您已退订"),
    "+447700900104": ("إلغاء", "sim2", "تم إلغاء اشتراكك"),
}
LOYAL = "+447700900199"


def test_stop_in_four_scripts_suppresses_marketing_queued_before_and_start_restores(shop_factory):
    shop = shop_factory(start=NIGHT)
    marketing = {}
    for number in [*CUSTOMERS, LOYAL]:
        shop.daemon.audience.opt_in(number, source="web_form", detail="summer signup form")
        marketing[number] = shop.queue.enqueue(number, "Winter sale: 20% off tomorrow!", kind="marketing",
                                               source="campaign").id
    for message_id in marketing.values():  # quiet hours: claimed, checked, put back until 08:00
        wait_until(lambda: "deferred until 2027-01-16T08:00:00+00:00" in (shop.queue.get(message_id).events[-1].detail or ""),
                   15, "the deferral")

    for number, (text, sim, _) in CUSTOMERS.items():
        shop.text_in(sim, number, text)
    for number, (text, sim, words) in CUSTOMERS.items():
        wait_until(lambda: shop.sent_to(number), 15, f"the confirmation to {number}")
        (confirmation,) = shop.sent_to(number)
        assert words in confirmation["text"] and confirmation["modem"] == sim  # from the SIM they wrote to
        assert shop.ledger(number) == [("opt_in", "marketing", "web_form"), ("opt_out", "marketing", "keyword")]

    shop.clock.advance(MORNING - NIGHT)  # the window opens: the earlier marketing is due now
    for number, message_id in marketing.items():
        shop.wait_status(message_id, MessageStatus.SUPPRESSED, MessageStatus.DELIVERED)
        assert shop.status(message_id) == (MessageStatus.DELIVERED if number == LOYAL else MessageStatus.SUPPRESSED)
    for number in CUSTOMERS:
        assert len(shop.sent_to(number)) == 1  # the confirmation, never the sale

    first = next(iter(CUSTOMERS))
    shop.text_in("sim1", first, "START")
    wait_until(lambda: len(shop.sent_to(first)) == 2, 15, "the START confirmation")
    assert "You are subscribed" in shop.sent_to(first)[1]["text"]
    assert shop.ledger(first)[-1] == ("opt_in", "marketing", "keyword")
    again = shop.queue.enqueue(first, "Welcome back: 10% off", kind="marketing", source="campaign").id
    shop.wait_status(again, MessageStatus.SENT, MessageStatus.DELIVERED)


def test_custom_keyword_and_multipart_inbound(shop_factory):
    shop = shop_factory(start=MORNING)
    with shop.queue.sessions.begin() as session:
        keyword_store.add(session, "FASHION", "join", group="fashion", reply="Welcome to Fashion Friday!",
                          now=shop.clock.now())
    shop.daemon.inbound.reload_keywords()
    customer = "+447700900150"
    shop.text_in("sim2", customer, "Fashion!")
    wait_until(lambda: shop.sent_to(customer), 15, "the keyword reply")
    assert shop.sent_to(customer)[0]["text"] == "Welcome to Fashion Friday!"
    assert shop.sent_to(customer)[0]["modem"] == "sim2"
    with shop.queue.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.number == customer))
        assert groups_of(session, contact.id) == ["fashion"]
    assert shop.ledger(customer) == [("opt_in", "marketing", "keyword")]

    long_text = "Could you keep the blue dress in size 12 for me until Saturday? " * 4 + "Привет!"
    shop.text_in("sim1", customer, long_text, split=True)  # parts arrive in reverse order

    def joined():
        with shop.queue.sessions() as session:
            return session.scalar(select(InboundMessage).where(InboundMessage.parts > 1))
    message = wait_until(joined, 15, "the joined message")
    assert message.text == long_text and message.complete and message.modem == "sim1"


def test_quiet_hours_delay_and_caps_suppress_marketing_but_not_transactional(shop_factory):
    shop = shop_factory(start=NIGHT, consent={"frequency_cap": 1, "frequency_days": 7})
    customer = "+447700900160"
    shop.daemon.audience.opt_in(customer, source="api", detail="checkout box")
    offer = shop.queue.enqueue(customer, "Night owl offer", kind="marketing").id
    receipt = shop.queue.enqueue(customer, "Your order 1001 has shipped", kind="transactional").id
    shop.wait_status(receipt, MessageStatus.SENT, MessageStatus.DELIVERED)  # transactional: at once
    # the other modem's worker may still hold the offer: its deferral is the event to wait for
    wait_until(lambda: "deferred until" in (shop.queue.get(offer).events[-1].detail or ""), 15, "the deferral")
    assert shop.status(offer) == MessageStatus.QUEUED
    assert shop.queue.get(offer).not_before == datetime(2027, 1, 16, 8, 0, tzinfo=UTC)
    assert [e["text"] for e in shop.sent_to(customer)] == ["Your order 1001 has shipped"]

    shop.clock.advance(MORNING - NIGHT)
    shop.wait_status(offer, MessageStatus.SENT, MessageStatus.DELIVERED)
    second = shop.queue.enqueue(customer, "Another offer", kind="marketing").id
    receipt2 = shop.queue.enqueue(customer, "Your order 1002 has shipped", kind="transactional").id
    shop.wait_status(second, MessageStatus.SUPPRESSED)
    assert "frequency cap" in shop.queue.get(second).last_error
    shop.wait_status(receipt2, MessageStatus.SENT, MessageStatus.DELIVERED)
    assert "Another offer" not in [e["text"] for e in shop.sent_to(customer)]


class StopRightAfterTheClaim:
    """A STOP recorded as soon as a worker's claim of a message to `number` has committed, before
    its send begins (a status listener runs in the claiming thread right after the commit, so a
    claim made ahead, or one that began before this was attached, counts too)."""

    def __init__(self, queue, audience, number: str) -> None:
        self.queue, self.audience, self.number = queue, audience, number

    def __call__(self, message_id: int, status: str) -> None:
        if status == MessageStatus.SENDING and self.queue.get(message_id).to_number == self.number:
            self.audience.opt_out(self.number, source="staff", detail="rang the shop")


def test_a_stop_between_the_claim_and_the_send_still_stops_the_message(shop_factory):
    shop = shop_factory(start=MORNING)
    number, other = "+447700900131", "+447700900132"
    for n in (number, other):
        shop.daemon.audience.opt_in(n, source="web_form", detail="summer signup form")
    shop.queue.status_listeners.append(StopRightAfterTheClaim(shop.queue, shop.daemon.audience, number))
    sale = shop.queue.enqueue(number, "Flash sale: 30% off today", kind="marketing", source="campaign").id
    shop.wait_status(sale, MessageStatus.SUPPRESSED, MessageStatus.SENT, MessageStatus.DELIVERED)
    assert shop.status(sale) == MessageStatus.SUPPRESSED
    assert "opted out of marketing (staff)" in (shop.queue.get(sale).last_error or "")
    assert shop.sent_to(number) == []  # the network never saw it
    after = shop.queue.enqueue(other, "Flash sale: 30% off today", kind="marketing", source="campaign").id
    shop.wait_status(after, MessageStatus.SENT, MessageStatus.DELIVERED)  # the modem's line is fine
    assert [m["text"] for m in shop.sent_to(other)] == ["Flash sale: 30% off today"]
