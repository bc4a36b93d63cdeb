"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md. Backoff runs on the FakeClock: no sleeps.

Here: message.received once per reassembled SMS, and the consent events (an opt-in by the API, a
STOP by SMS), committed with the consent change or not at all.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.consent.models import ConsentEvent

from .process_helpers import ProcessDied
from .webhook_helpers import TO, register
from .webhook_helpers import receivers  # noqa: F401  (fixtures)


def receive(web_context, clock, sender: str, text: str, *, concat=None) -> None:
    """An SMS part stored as the engine stores it, handed to the inbound pipeline."""
    from gateway.inbound.models import InboundPart

    ref, total, seq = concat or (None, None, None)
    with web_context.sessions.begin() as session:
        part = InboundPart(modem="sim1", sender=sender, text=text, received_at=clock.now(), raw_pdu="00",
                           concat_ref=ref, concat_total=total, concat_seq=seq)
        session.add(part)
    web_context.inbound(part)


def test_message_received_once_per_reassembled_sms(web_context, client, make_key, receivers, clock):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["message.received"])["secret"]
    receive(web_context, clock, TO, "Hello, do you have ", concat=(7, 2, 1))
    assert web_context.webhooks.run_once() == 0  # half a message is not a message yet
    receive(web_context, clock, TO, "size 42?", concat=(7, 2, 2))
    assert web_context.webhooks.run_once() == 1
    [event] = receiver.received
    data = event["data"]
    assert event["type"] == "message.received"
    assert (data["from"], data["text"], data["sim"], data["parts"], data["complete"]) == (
        TO, "Hello, do you have size 42?", "sim1", 2, True)
    assert data["contact_id"] is not None  # an unknown sender became a contact


def test_opt_in_by_api_and_stop_by_sms_are_consent_events(web_context, client, make_key, receivers, clock):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out", "contact.opted_in"])["secret"]
    web_context.audience.opt_in(TO, source="api", detail="signed up at the till")
    receive(web_context, clock, TO, " Stop. ")
    web_context.audience.opt_in(TO, source="api", detail="again")  # after their STOP: only asks, no event
    assert web_context.webhooks.run_once() == 2
    into, out = receiver.received
    assert (into["type"], into["data"]["source"], into["data"]["detail"]) == (
        "contact.opted_in", "api", "signed up at the till")
    assert (out["type"], out["data"]["number"], out["data"]["source"]) == ("contact.opted_out", TO, "keyword")
    assert out["data"]["inbound_message_id"] is not None


def test_a_consent_change_and_its_webhook_event_commit_together(web_context, client, make_key, receivers):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out"])["secret"]

    def die(conn, contact, event):
        raise ProcessDied  # after the webhook's hook wrote its row, before the commit

    audience = web_context.audience
    audience.consent_hooks.append(die)
    with pytest.raises(ProcessDied):
        audience.opt_out(TO, source="api")
    audience.consent_hooks.remove(die)
    assert web_context.webhooks.deliveries() == []  # no event for an opt-out that never was
    with web_context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0  # nor the opt-out itself
    audience.opt_out(TO, source="api")
    assert web_context.webhooks.run_once() == 1 and receiver.received[0]["type"] == "contact.opted_out"
