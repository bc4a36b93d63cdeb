"""Audience.opt_in as the API, the CLI and the console call it, on a real SQLite file: what it
records and what it texts the customer when the shop opts them in more than once."""

from __future__ import annotations

import pytest

from gateway.consent.optin import OptInRefused
from gateway.core.config_sections import ConsentSection

from .audience_helpers import make_rig

CUSTOMER = "+447700900123"
DAY = 86400
pytestmark = pytest.mark.timeout(30)


def confirmations(rig) -> list:
    return [m for m in rig.outbox(CUSTOMER) if m.source == "consent"]


@pytest.fixture
def make(queue, clock):
    rigs = []

    def made(**consent):
        rig = make_rig(queue, clock, consent=ConsentSection(**consent))
        rigs.append(rig)
        return rig
    yield made
    for rig in rigs:
        rig.pipeline.stop()


@pytest.mark.parametrize("double_opt_in", [False, True])
def test_the_shop_asks_a_customer_who_said_stop_once_per_confirmation_window(make, clock, double_opt_in):
    """Staff pressing the button five times, or a till re-syncing its list every night, texts the
    customer who said STOP one "Reply YES" while that request is open; a new one only after it lapsed."""
    rig = make(double_opt_in=double_opt_in, confirm_within_days=7)
    rig.audience.opt_out(CUSTOMER, source="staff", detail="phoned the shop")
    first = rig.audience.opt_in(CUSTOMER, source="staff", detail="asked at the till")
    asked_at = clock.now()
    assert first.requested and first.confirmation_id == confirmations(rig)[0].id
    for _ in range(4):
        clock.advance(DAY)
        again = rig.audience.opt_in(CUSTOMER, source="import", detail="nightly sync")
        assert again.requested and again.confirmation_id is None
        assert again.event.id == first.event.id  # the request that is open, nothing new in the ledger
        assert asked_at.isoformat() in again.reason and "no second one was sent" in again.reason
    clock.advance(3 * DAY)  # 7 days: still open
    assert rig.audience.opt_in(CUSTOMER, source="api").confirmation_id is None
    assert len(confirmations(rig)) == 1
    assert [kind for kind, _, _ in rig.ledger(CUSTOMER)] == ["opt_out", "opt_in_requested"]
    clock.advance(1)  # lapsed: YES would be an ordinary reply now, so a new request may go
    later = rig.audience.opt_in(CUSTOMER, source="api", detail="asked again")
    assert later.confirmation_id == confirmations(rig)[1].id and len(confirmations(rig)) == 2
    rig.receive(CUSTOMER, "YES")
    assert rig.ledger(CUSTOMER)[-1] == ("opt_in", "marketing", "keyword")


def test_double_opt_in_asks_a_new_contact_once_per_confirmation_window(make, clock):
    rig = make(double_opt_in=True, confirm_within_days=2)
    assert rig.audience.opt_in(CUSTOMER, source="web_form", detail="form #12").confirmation_id is not None
    clock.advance(DAY)
    again = rig.audience.opt_in(CUSTOMER, source="web_form", detail="form #12, sent twice")
    assert again.requested and again.confirmation_id is None and "no second one was sent" in again.reason
    assert len(confirmations(rig)) == 1
    clock.advance(DAY + 1)
    assert rig.audience.opt_in(CUSTOMER, source="web_form").confirmation_id is not None
    assert len(confirmations(rig)) == 2


def test_a_stop_closes_the_open_request_so_the_next_opt_in_asks_again(make):
    """The customer's later STOP withdraws what they were asked: a request after it is a new one."""
    rig = make()
    rig.audience.opt_out(CUSTOMER, source="staff")
    rig.audience.opt_in(CUSTOMER, source="staff")
    rig.receive(CUSTOMER, "STOP")
    assert rig.audience.opt_in(CUSTOMER, source="staff").confirmation_id is not None
    assert len(confirmations(rig)) == 2


def test_after_stopall_an_opt_in_by_the_shop_sends_nothing_and_says_why(make):
    """STOPALL: no messages at all, so the "Reply YES" would be suppressed; the opt-in is refused
    with the reason instead of claiming a request went, and only the customer's START opts them in."""
    rig = make()
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, "STOPALL")
    before = rig.outbox(CUSTOMER)
    with pytest.raises(OptInRefused) as refused:
        rig.audience.opt_in(CUSTOMER, source="staff", detail="asked at the till")
    assert "asked for no messages at all" in str(refused.value) and "START" in str(refused.value)
    assert [m.id for m in rig.outbox(CUSTOMER)] == [m.id for m in before]  # STOPALL's own answer only
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "web_form"), ("opt_out", "all", "keyword")]
    rig.receive(CUSTOMER, "START")
    assert rig.ledger(CUSTOMER)[-1] == ("opt_in", "marketing", "keyword")


def test_where_stop_also_stops_transactional_messages_a_request_after_stop_is_refused(make):
    """With consent.transactional_honour_stop the request could not reach them either."""
    rig = make(transactional_honour_stop=True)
    rig.audience.opt_out(CUSTOMER, source="staff", detail="phoned the shop")
    with pytest.raises(OptInRefused, match="transactional_honour_stop"):
        rig.audience.opt_in(CUSTOMER, source="api")
    assert confirmations(rig) == []


def test_where_stopall_lets_transactional_messages_through_the_request_goes(make):
    rig = make(transactional_honour_stopall=False)
    rig.audience.opt_out(CUSTOMER, source="staff", scope="all")
    assert rig.audience.opt_in(CUSTOMER, source="api").confirmation_id == confirmations(rig)[0].id


def test_double_opt_in_does_not_ask_a_customer_who_already_confirmed(make, clock):
    """A contact who replied YES has consent: the shop opting them in again (a form sent twice, a
    nightly sync) must not text them "Reply YES" again, however long after."""
    rig = make(double_opt_in=True, confirm_within_days=2)
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="form #12")
    rig.receive(CUSTOMER, "YES")
    assert rig.ledger(CUSTOMER)[-1] == ("opt_in", "marketing", "keyword")
    for _ in range(3):
        clock.advance(30 * DAY)
        again = rig.audience.opt_in(CUSTOMER, source="import", detail="nightly sync")
        assert not again.requested and again.confirmation_id is None
    assert len(confirmations(rig)) == 1
