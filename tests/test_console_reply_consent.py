"""A console reply to a contact who opted out goes only as the answer to what they asked: they wrote
after the opt-out, within `[consent] reply_after_opt_out_hours`. Otherwise it is refused, naming
the opt-out. The rule (`gateway.consent.replies`) table-tested, then through the inbox's reply
POST on a real database, texts coming in through the real inbound pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.consent.ledger import ConsentState
from gateway.consent.replies import reply_rule
from gateway.core.config_sections import ConsentSection

from .console_helpers import admin, admin_client, post_form, rig  # noqa: F401  (fixtures)

CUSTOMER = "+447700900123"
WINDOW = timedelta(hours=ConsentSection().reply_after_opt_out_hours)
T0 = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("state, wrote, now, allowed", [
    (ConsentState("none"), None, T0, True),
    (ConsentState("opted_in", T0, "web_form"), None, T0, True),
    (ConsentState("pending", T0, "api"), None, T0, True),
    (ConsentState("opted_out", T0, "keyword"), None, T0, False),  # never wrote
    (ConsentState("opted_out", T0, "keyword"), T0, T0, False),  # the STOP itself is no question
    (ConsentState("opted_out", T0, "keyword"), T0 - timedelta(minutes=1), T0, False),  # before the opt-out
    (ConsentState("opted_out", T0, "staff"), T0 + timedelta(minutes=5), T0 + timedelta(minutes=6), True),
    (ConsentState("opted_out", T0, "keyword"), T0 + timedelta(hours=1), T0 + timedelta(hours=1) + WINDOW, True),
    (ConsentState("opted_out", T0, "keyword"), T0 + timedelta(hours=1),
     T0 + timedelta(hours=1) + WINDOW + timedelta(seconds=1), False),  # their question is too old now
    (ConsentState("opted_out_all", T0, "keyword"), None, T0, False),
])
def test_the_reply_rule(state, wrote, now, allowed):
    verdict = reply_rule(state, wrote, now, WINDOW)
    assert verdict.allowed is allowed
    if not allowed:
        assert (verdict.opted_out_at, verdict.opted_out_by) == (state.since, state.source)
        assert verdict.everything is (state.status == "opted_out_all") and "opted out" in verdict.reason


def _reply(client, text: str = "Your parcel left today."):
    return post_form(client, f"/inbox/{CUSTOMER}/reply", {"text": text}, page=f"/inbox/{CUSTOMER}")


def test_a_reply_to_a_contact_who_opted_out_and_has_not_written_since_is_refused_naming_the_opt_out(
        admin_client, rig, clock):
    rig.receive(CUSTOMER, "STOP")
    before = len(rig.outbox(CUSTOMER))  # STOP's own confirmation
    clock.advance(3600)
    refused = _reply(admin_client)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "this contact opted out on" in page and "By SMS, from the customer" in page and "24 hours" in page
    assert len(rig.outbox(CUSTOMER)) == before  # nothing queued


@pytest.mark.parametrize("opt_out, named", [
    ("STOPALL", "no messages at all (STOP ALL)"),
    ("Stop texting me", "By SMS, from the customer, in a sentence"),  # an opt-out written as a sentence
])
def test_the_refusal_names_how_they_opted_out(admin_client, rig, clock, opt_out, named):
    rig.receive(CUSTOMER, opt_out)
    clock.advance(60)
    page = _reply(admin_client).get_data(as_text=True)
    assert named in page


def test_a_reply_to_what_they_asked_after_their_opt_out_goes_as_transactional(admin_client, rig, clock):
    rig.receive(CUSTOMER, "stop")
    clock.advance(600)
    rig.receive(CUSTOMER, "Where is my parcel?")
    clock.advance(600)
    sent = _reply(admin_client)
    assert sent.status_code == 302
    reply = rig.outbox(CUSTOMER)[-1]
    assert (reply.text, reply.kind, reply.source) == ("Your parcel left today.", "transactional", "console")


def test_a_question_older_than_the_window_no_longer_allows_a_reply(admin_client, rig, clock):
    rig.receive(CUSTOMER, "stop")
    clock.advance(600)
    rig.receive(CUSTOMER, "Where is my parcel?")
    for _ in range(4):  # a day passes, the session kept alive (8 idle hours end it)
        clock.advance((WINDOW.total_seconds() + 1) / 4)
        assert admin_client.get("/inbox").status_code == 200
    before = len(rig.outbox(CUSTOMER))
    assert _reply(admin_client).status_code == 422
    assert len(rig.outbox(CUSTOMER)) == before




def test_a_contact_who_never_opted_out_gets_the_reply(admin_client, rig, clock):
    rig.receive(CUSTOMER, "hi")
    clock.advance(60)
    assert _reply(admin_client).status_code == 302
    assert rig.outbox(CUSTOMER)[-1].source == "console"
