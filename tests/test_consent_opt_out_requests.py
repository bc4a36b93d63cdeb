"""A text that reads like a request to stop but is no keyword ("please don't text me any more"):
filed for staff, marketing to the contact held until they decide; transactional messages still go.
Through the real inbound pipeline and the send-time check, on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.audience.models import Contact
from gateway.consent import requests
from gateway.consent.models import ConsentSource, OptOutRequest, OptOutRequestDecision
from gateway.consent.rules import Rules
from gateway.consent.send_check import ConsentCheck
from gateway.inbound.models import InboundMessage

from .audience_helpers import make_rig

CUSTOMER = "+447700900555"
NO_QUIET = Rules(quiet_start=None, quiet_end=None)


@pytest.fixture
def rig(queue, clock):
    made = make_rig(queue, clock)
    yield made
    made.pipeline.stop()


def opted_in(rig) -> None:
    rig.audience.opt_in(CUSTOMER, source=ConsentSource.KEYWORD)


def verdict(rig, kind: str):
    """What the send-time check says now about a message of this kind to the customer, as the worker asks it."""
    message = rig.queue.enqueue(CUSTOMER, f"a {kind} message", kind=kind)
    claimed = rig.queue.claim("sim1")
    assert claimed is not None and claimed.id == message.id
    answer = ConsentCheck(rig.queue.sessions, rig.clock, NO_QUIET)(claimed)
    rig.queue.cancel(message.id)
    return answer


def the_request(rig) -> OptOutRequest:
    with rig.queue.sessions() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.number == CUSTOMER))
        (request,) = session.scalars(select(OptOutRequest).where(OptOutRequest.contact_id == contact_id)).all()
        return request


@pytest.mark.parametrize("text", ["Please don't text me any more, no more offers", "Больше не пишите мне",
                                  "请不要再发了", "لا ترسلوا لي رسائل بعد الآن"])
def test_a_text_reading_like_a_request_to_stop_holds_marketing_until_staff_decide(rig, text):
    opted_in(rig)
    rig.receive(CUSTOMER, text)
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "keyword")]  # no decision was taken for them
    request = the_request(rig)
    assert request.decided_at is None
    with rig.queue.sessions() as session:
        assert session.get(InboundMessage, request.inbound_message_id).action == requests.ACTION
    held = verdict(rig, "marketing")
    assert held.action == "suppress" and held.reason.startswith(requests.HELD)
    assert verdict(rig, "transactional").action == "send"  # a receipt or a code is not marketing


def test_staff_reading_it_as_no_opt_out_lifts_the_hold_and_it_is_decided_once(rig, clock):
    opted_in(rig)
    rig.receive(CUSTOMER, "no more sms on sundays please, weekdays are fine")
    request = the_request(rig)
    with rig.queue.sessions.begin() as session:
        decided = requests.decide(session, request.id, OptOutRequestDecision.NOT_AN_OPT_OUT, "anna", clock.now())
        assert decided is not None and decided.decided_by == "anna"
    with rig.queue.sessions.begin() as session:  # a second decision (another tab) changes nothing
        assert requests.decide(session, request.id, OptOutRequestDecision.OPTED_OUT, "omar", clock.now()) is None
    assert the_request(rig).decision == OptOutRequestDecision.NOT_AN_OPT_OUT
    assert verdict(rig, "marketing").action == "send"


def test_an_ordinary_reply_or_a_keyword_files_no_request(rig):
    opted_in(rig)
    rig.receive(CUSTOMER, "Is the shop open on Sunday?")
    rig.receive(CUSTOMER, "STOP")  # a keyword is an opt-out at once, not a request to read
    with rig.queue.sessions() as session:
        assert session.scalars(select(OptOutRequest)).all() == []


def test_a_campaigns_dry_run_names_the_hold_as_the_reason_it_skips_the_contact(rig):
    from gateway.campaigns.audience import skip_reason
    from gateway.consent.ledger import ConsentState

    assert skip_reason(None, ConsentState("opted_in"), True) == requests.HELD
    assert skip_reason(None, ConsentState("opted_out"), True) == "opted out"
    assert skip_reason(None, ConsentState("opted_in"), False) is None
