"""The modems page through Flask's test client: details for everybody signed in, a test SMS, a USSD
code and a restart for admins (on a real supervisor and a virtual modem), each audit-logged; staff
get 403 on the actions; CSRF; text from the network escaped."""

from __future__ import annotations

import re

import pytest

from gateway.sims import status
from gateway.sims.control import ModemControl
from gateway.users import audit
from modem.supervision import ModemState

from .console_helpers import (  # noqa: F401  (fixtures)
    admin, admin_client, csrf_of, post_form, staff, staff_client,
)
from .modem_helpers import Inbox, start_supervisor, wait_until
from .test_modem_control import XSS, counting_resets


@pytest.fixture
def live(sim, web_context):
    """The context's modems are one real supervisor on a virtual modem, with its control."""
    port = next(iter(sim.ports.values()))
    supervisor = start_supervisor("shop1", port.path, Inbox(), boot_s=0.0)
    web_context.modems = lambda: status.describe([(supervisor, None)])
    web_context.control = ModemControl(lambda: [supervisor])
    yield supervisor, port.modem
    supervisor.stop()


def _form_token(page: str, action: str) -> str:
    """The CSRF token of the form posting to `action` on `page` (its fields carry the modem's prefix)."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}">(.*?)</form>', page, re.S)
    assert form, action
    found = re.search(r'name="mshop1-csrf_token" type="hidden" value="([^"]+)"', form.group(1))
    assert found, action
    return found.group(1)


def test_everybody_signed_in_sees_each_modems_details(staff_client, live):
    supervisor, _ = live
    page = staff_client.get("/modems").get_data(as_text=True)
    identity = supervisor.identity
    for shown in (identity.imei, identity.iccid, identity.imsi, identity.firmware, identity.model, "Ready"):
        assert shown and shown in page, shown
    assert f'<bdi dir="ltr">{identity.imei}</bdi>' in page
    assert "/modems/shop1/restart" not in page and "Send a test SMS" not in page  # staff see, admins act
    assert 'href="/modems" aria-current="page"' in page


def test_staff_get_403_on_every_action(staff_client, live):
    token = csrf_of(staff_client.get("/modems").get_data(as_text=True))
    for path in ("/modems/shop1/test", "/modems/shop1/ussd", "/modems/shop1/restart"):
        assert staff_client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert staff_client.get("/modems/shop1/restart").status_code == 403


def test_the_page_needs_a_login_and_an_action_its_csrf_token(client, admin_client, live, web_context):
    assert admin_client.post("/modems/shop1/restart", data={}).status_code == 400
    assert admin_client.post("/modems/shop1/test", data={"mshop1-to": "+447700900123", "mshop1-text": "hi"}).status_code == 400
    assert web_context.queue.depth().get("queued", 0) == 0
    admin_client.post("/logout", data={"csrf_token": csrf_of(admin_client.get("/modems").get_data(as_text=True))})
    answer = client.get("/modems")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_a_test_sms_is_queued_pinned_to_the_modem_and_audited(admin_client, live, web_context):
    from gateway.outbound.models import Message

    page = admin_client.get("/modems").get_data(as_text=True)
    answer = admin_client.post("/modems/shop1/test", data={
        "mshop1-csrf_token": _form_token(page, "/modems/shop1/test"), "mshop1-to": "07700 900123", "mshop1-text": "Test"})
    assert answer.status_code == 302
    with web_context.sessions() as session:
        message = session.query(Message).one()
    assert (message.to_number, message.sim_requested, message.kind) == ("+447700900123", "shop1", "transactional")
    assert f"Test SMS queued (message {message.id}) on shop1." in admin_client.get("/modems").get_data(as_text=True)
    entry = audit.recent(web_context.sessions)[0]
    assert (entry.actor, entry.action, entry.detail) == ("anna", "test_sms", f"shop1 to +447700900123: message {message.id}")


def test_a_test_sms_to_a_bad_number_is_refused_saying_why(admin_client, live, web_context):
    page = admin_client.get("/modems").get_data(as_text=True)
    admin_client.post("/modems/shop1/test", data={
        "mshop1-csrf_token": _form_token(page, "/modems/shop1/test"), "mshop1-to": "not a number", "mshop1-text": "Test"})
    assert "Not queued: that is not a phone number" in admin_client.get("/modems").get_data(as_text=True)
    assert web_context.queue.depth().get("queued", 0) == 0
    assert audit.recent(web_context.sessions)[0].action == "login"


def test_a_ussd_answer_is_shown_when_it_comes_and_escaped(admin_client, live, web_context):
    _, device = live
    device.ussd_text = XSS
    page = admin_client.get("/modems").get_data(as_text=True)
    answer = admin_client.post("/modems/shop1/ussd", data={
        "mshop1-csrf_token": _form_token(page, "/modems/shop1/ussd"), "mshop1-code": "*100#"})
    assert answer.status_code == 302
    job_id = int(re.search(r"ussd=(\d+)", answer.headers["Location"]).group(1))
    job = web_context.control.job(job_id)
    assert job.done.wait(15)
    fragment = admin_client.get(f"/modems/ussd/{job_id}").get_data(as_text=True)
    assert "hx-get" not in fragment  # finished: no more polling
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in fragment and "<script>" not in fragment
    assert "<script>alert" not in admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert (audit.recent(web_context.sessions)[0].action, audit.recent(web_context.sessions)[0].detail) == ("ussd", "shop1: *100#")


def test_a_ussd_answer_not_there_yet_polls_its_fragment(admin_client, live, web_context):
    _, device = live
    device.ussd_text = None  # the network never answers: the job waits (30 s) for it
    page = admin_client.get("/modems").get_data(as_text=True)
    location = admin_client.post("/modems/shop1/ussd", data={
        "mshop1-csrf_token": _form_token(page, "/modems/shop1/ussd"), "mshop1-code": "*100#"}).headers["Location"]
    job_id = int(re.search(r"ussd=(\d+)", location).group(1))
    waiting = admin_client.get(f"/modems/ussd/{job_id}").get_data(as_text=True)
    assert f'hx-get="/modems/ussd/{job_id}"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert "Waiting for the network" in waiting and f"/modems?ussd={job_id}#ussd-{job_id}" in waiting  # without JS: reload


def test_a_ussd_refusal_is_shown_as_no_answer_with_the_reason(admin_client, live, web_context):
    _, device = live
    device.ussd_status = 4  # the network does not support the code
    job = web_context.control.ussd("shop1", "*100#")
    assert job.done.wait(15)
    shown = admin_client.get(f"/modems/ussd/{job.id}").get_data(as_text=True)
    assert "No answer:" in shown and "USSD *100#" in shown and "hx-get" not in shown


def test_a_bad_ussd_code_is_refused_before_the_modem(admin_client, live, web_context):
    _, device = live
    page = admin_client.get("/modems").get_data(as_text=True)
    admin_client.post("/modems/shop1/ussd", data={
        "mshop1-csrf_token": _form_token(page, "/modems/shop1/ussd"), "mshop1-code": "*100#;AT+CFUN=0"})
    assert "A USSD code is digits" in admin_client.get("/modems").get_data(as_text=True)
    assert device.ussd_requests == []


def test_a_restart_is_confirmed_then_taken_and_audited(admin_client, live, web_context):
    supervisor, device = live
    reset = counting_resets(device)
    confirm = admin_client.get("/modems/shop1/restart").get_data(as_text=True)
    assert "Restart shop1?" in confirm and "sends nothing for about a minute" in confirm
    assert not reset.is_set()  # asking is not doing
    token = re.search(r'name="mshop1-csrf_token" type="hidden" value="([^"]+)"', confirm).group(1)
    answer = admin_client.post("/modems/shop1/restart", data={"mshop1-csrf_token": token})
    assert answer.status_code == 302
    assert reset.wait(10)
    wait_until(lambda: supervisor.state is ModemState.READY and supervisor.recovery == "", 15, "back in service")
    entry = audit.recent(web_context.sessions)[0]
    assert (entry.actor, entry.action, entry.detail) == ("anna", "modem_restart", "shop1")
    assert admin_client.post("/modems/shop9/restart", data={"mshop1-csrf_token": token}).status_code == 404


def test_text_from_the_network_is_escaped_on_the_page(admin_client, modem_list):
    from .test_console import _modem

    modem_list.append(_modem(operator=XSS, reason=XSS, identity={"manufacturer": XSS, "model": XSS, "firmware": XSS,
                                                                 "imei": "1", "imsi": None, "iccid": None}))
    page = admin_client.get("/modems").get_data(as_text=True)
    assert "<script>" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
