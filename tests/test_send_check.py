"""The send-time check on a real SQLite file: the ledger and the send history are read at claim time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.audience.contacts import ContactHealth
from gateway.audience.models import Contact
from gateway.consent.optin import Audience
from gateway.consent.send_check import ConsentCheck, rules_from
from gateway.core.config_sections import ConsentSection
from gateway.outbound.models import MessageStatus
from modem.pdu import StatusReport

CUSTOMER = "+447700900123"
OTHER = "+447700900456"
NOON_LONDON = datetime(2027, 1, 15, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def check(queue, clock):
    clock.advance(NOON_LONDON - clock.time())
    return ConsentCheck(queue.sessions, clock, rules_from(ConsentSection(frequency_cap=2)),
                        default_timezone="Europe/London")


@pytest.fixture
def audience(queue, clock):
    return Audience(queue.sessions, clock, queue)


def claim_and_check(queue, check):
    claimed = queue.claim("sim1")
    verdict = check(claimed)
    if verdict.action == "send":
        for part_id in claimed.part_ids.values():
            queue.part_submitting(part_id, "sim1")
            queue.part_sent(part_id, 1)
        queue.finish(claimed.id, MessageStatus.SENT)
    return claimed.id, verdict


def test_opt_out_after_queueing_suppresses(queue, check, audience):
    audience.opt_in(CUSTOMER, source="web_form", detail="form")
    message = queue.enqueue(CUSTOMER, "Sale!", kind="marketing", source="campaign")
    audience.opt_out(CUSTOMER, source="staff", detail="asked in the shop")
    _, verdict = claim_and_check(queue, check)
    assert verdict.action == "suppress" and "opted out of marketing (staff)" in verdict.reason
    assert message.id


def test_no_contact_no_marketing_but_transactional_goes(queue, check):
    queue.enqueue(CUSTOMER, "Sale!", kind="marketing")
    queue.enqueue(CUSTOMER, "Your code is 1234", kind="transactional")
    assert claim_and_check(queue, check)[1].action == "suppress"
    assert claim_and_check(queue, check)[1].action == "send"


def test_frequency_cap_counts_marketing_sent_in_the_window(queue, check, audience, clock):
    audience.opt_in(CUSTOMER, source="api")
    verdicts = []
    for i in range(3):
        queue.enqueue(CUSTOMER, f"Offer {i}", kind="marketing")
        queue.enqueue(CUSTOMER, f"Receipt {i}", kind="transactional")
    for _ in range(6):
        verdicts.append(claim_and_check(queue, check)[1].action)
    assert verdicts == ["send", "send", "send", "send", "suppress", "send"]
    clock.advance(7 * 86400 + 1)  # the window moved past the first two
    queue.enqueue(CUSTOMER, "Offer 3", kind="marketing")
    assert claim_and_check(queue, check)[1].action == "send"


def test_quiet_hours_in_the_contacts_timezone(queue, check, audience, clock):
    new_york = "+12125550123"
    audience.opt_in(new_york, source="api")
    clock.advance(datetime(2027, 1, 16, 3, 0, tzinfo=UTC).timestamp() - clock.time())  # 22:00 in New York
    queue.enqueue(new_york, "Sale!", kind="marketing")
    _, verdict = claim_and_check(queue, check)
    assert verdict.action == "defer" and verdict.until == datetime(2027, 1, 16, 13, 0, tzinfo=UTC)
    assert "America/New_York" in verdict.reason


def test_unreachable_numbers_are_flagged_and_cleared(queue, clock):
    queue.status_hooks.append(ContactHealth(clock))
    Audience(queue.sessions, clock, queue).opt_in(CUSTOMER, source="api")
    ids = [queue.enqueue(CUSTOMER, f"m{i}").id for i in range(4)]
    for message_id in ids[:3]:
        queue.finish(message_id, MessageStatus.FAILED, "absent subscriber")
    with queue.sessions() as session:
        assert session.scalar(select(Contact.flag)) == "unreachable"
    queue.finish(ids[3], MessageStatus.DELIVERED)
    with queue.sessions() as session:
        assert session.scalar(select(Contact.flag)) is None


def test_a_delivery_report_clears_the_unreachable_flag_and_leaves_other_contacts_alone(queue, clock):
    """The report's own statement says whether the recipient is flagged; the flag is cleared only then."""
    queue.status_hooks.append(ContactHealth(clock))
    audience = Audience(queue.sessions, clock, queue)
    audience.opt_in(CUSTOMER, source="api")
    audience.opt_in(OTHER, source="api")
    with queue.sessions.begin() as session:
        for contact in session.scalars(select(Contact)):
            contact.flag = "unreachable" if contact.number == CUSTOMER else "invalid"
    for number, reference in ((CUSTOMER, 11), (OTHER, 12)):
        claimed = queue.enqueue(number, "back in stock") and queue.claim("sim1")
        assert queue.part_submitting(claimed.part_ids[1], "sim1") is None
        queue.part_sent(claimed.part_ids[1], reference, last=True)
        now = clock.now()
        assert queue.apply_report("sim1", StatusReport(reference, number, now, now, 0x00)) == claimed.id
        assert queue.get(claimed.id).status == MessageStatus.DELIVERED
    with queue.sessions() as session:
        assert dict(session.execute(select(Contact.number, Contact.flag)).all()) == {
            CUSTOMER: None, OTHER: "invalid"}


def test_quiet_hours_of_a_multi_zone_country_are_its_main_zone_and_say_it_is_a_guess(queue, check, audience, clock):
    """+7 912 is a Russian mobile: phonenumbers gives a dozen zones. Quiet hours are Moscow's, never
    silently London's (the gateway's), and the deferral says the zone is a guess."""
    russian = "+79121234567"
    audience.opt_in(russian, source="api")
    clock.advance(datetime(2027, 1, 15, 19, 0, tzinfo=UTC).timestamp() - clock.time())  # 22:00 Moscow, 19:00 London
    queue.enqueue(russian, "Скидки!", kind="marketing")
    _, verdict = claim_and_check(queue, check)
    assert verdict.action == "defer" and verdict.until == datetime(2027, 1, 16, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    assert "Europe/Moscow" in verdict.reason and "guess" in verdict.reason


def test_quiet_hours_in_the_gateways_zone_say_so(queue, check, audience, clock):
    audience.opt_in(CUSTOMER, source="api")  # a drama number: no zone known
    clock.advance(datetime(2027, 1, 15, 22, 0, tzinfo=UTC).timestamp() - clock.time())
    queue.enqueue(CUSTOMER, "Sale!", kind="marketing")
    _, verdict = claim_and_check(queue, check)
    assert verdict.action == "defer" and "Europe/London (the gateway's: the contact's is unknown)" in verdict.reason
