"""The conversation page shows a text that reads like a request to stop, and staff decide it there:
"Log an opt-out" writes the ledger (from staff) and ends the hold; "Not an opt-out" lifts it. Both
are POSTs with CSRF and are audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.consent.models import OptOutRequest
from gateway.users import audit

from .console_helpers import admin, csrf_of, rig, staff, staff_client  # noqa: F401  (fixtures)

CUSTOMER = "+447700900321"
pytestmark = pytest.mark.timeout(60)


def request_row(rig) -> OptOutRequest:
    with rig.queue.sessions() as session:
        (row,) = session.scalars(select(OptOutRequest)).all()
        return row


def decide(client, decision: str, request_id: int):
    page = client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    return client.post(f"/inbox/{CUSTOMER}/requests/{request_id}",
                       data={"csrf_token": csrf_of(page), "decision": decision})


def test_staff_log_the_opt_out_a_text_asked_for_and_the_page_shows_it(staff_client, rig, web_context):
    rig.audience.opt_in(CUSTOMER, source="keyword")
    rig.receive(CUSTOMER, "please <b>no more offers</b>, I moved away")
    page = staff_client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    assert "This text reads like a request to stop." in page and "Reads like a request to stop" in page
    assert "&lt;b&gt;no more offers&lt;/b&gt;" in page and "<b>no more" not in page  # the customer's text, escaped
    row = request_row(rig)
    assert staff_client.post(f"/inbox/{CUSTOMER}/requests/{row.id}", data={"decision": "opted_out"}).status_code == 400
    assert request_row(rig).decided_at is None  # no CSRF token: nothing decided
    answer = decide(staff_client, "opted_out", row.id)
    assert answer.status_code == 302
    assert rig.ledger(CUSTOMER)[-1] == ("opt_out", "marketing", "staff")
    assert (request_row(rig).decision, request_row(rig).decided_by) == ("opted_out", "sam")
    page = staff_client.get(f"/inbox/{CUSTOMER}").get_data(as_text=True)
    assert "This text reads like a request to stop." not in page and "Opted out of marketing." in page
    assert [e.action for e in audit.recent(web_context.sessions)][:1] == ["opted_out"]


def test_not_an_opt_out_lifts_the_hold_once(staff_client, rig, web_context):
    rig.receive(CUSTOMER, "no more sms on sundays please")
    row = request_row(rig)
    assert decide(staff_client, "not_an_opt_out", row.id).status_code == 302
    assert request_row(rig).decision == "not_an_opt_out" and rig.ledger(CUSTOMER) == []
    assert decide(staff_client, "not_an_opt_out", row.id).status_code == 404  # decided already
    assert decide(staff_client, "something_else", row.id).status_code == 400
    assert [e.action for e in audit.recent(web_context.sessions)][:1] == ["opt_out_request_dismissed"]
