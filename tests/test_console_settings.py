"""The admins' settings pages through Flask's test client on a real database: API keys (shown once,
working against /api/v1, revoked), webhooks (the API's URL rules, the secret shown once, "send test"
to a real receiver and the delivery log, replay, deactivate, rotate), users (add, new password,
disable; nobody disables themselves), keywords (the API's rules), the sending rules read-only; staff
get 403 everywhere; every change audit-logged without secrets; text from outside escaped."""

from __future__ import annotations

import re

import pytest

from gateway.apikeys import keys
from gateway.consent import keyword_store
from gateway.users import accounts, audit

from .console_helpers import (  # noqa: F401  (fixtures)
    PASSWORD, add_user, admin, admin_client, csrf_of, post_form, sign_in, staff, staff_client,
)
from .webhook_helpers import Receiver

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
PAGES = ("/settings", "/settings/keys", "/settings/webhooks", "/settings/users", "/settings/keywords",
         "/settings/limits")


@pytest.fixture
def receiver():
    made = Receiver(check_signature=False)
    yield made
    made.close()


def last_audit(context) -> tuple:
    entry = audit.recent(context.sessions)[0]
    return entry.actor, entry.action, entry.detail


def make_endpoint(client, url: str, description: str = "") -> tuple[int, str]:
    """Add a webhook through the page; (its id, the secret the answer showed)."""
    answer = post_form(client, "/settings/webhooks", {"url": url, "events": ["message.status"],
                                                      "description": description})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    page = answer.get_data(as_text=True)
    secret = re.search(r'id="webhook-secret">([^<]+)<', page).group(1)
    endpoint_id = int(re.search(r'href="/settings/webhooks/(\d+)"', page).group(1))
    return endpoint_id, secret


# ---- who may ------------------------------------------------------------------------------------
def test_staff_get_403_on_every_settings_page_and_action(staff_client, web_context):
    token = csrf_of(staff_client.get("/").get_data(as_text=True))
    for path in PAGES + ("/settings/keys/1/revoke", "/settings/webhooks/1", "/settings/users/1/password",
                         "/settings/users/1/disabled", "/settings/keywords/1"):
        assert staff_client.get(path).status_code == 403, path
    for path in ("/settings/keys", "/settings/webhooks", "/settings/users", "/settings/keywords",
                 "/settings/users/1/disabled", "/settings/webhooks/1/test"):
        assert staff_client.post(path, data={"csrf_token": token, "name": "x", "scopes": "admin"}).status_code == 403, path
    assert keys.list_keys(web_context.sessions) == []
    assert 'href="/settings"' not in staff_client.get("/").get_data(as_text=True)


def test_the_settings_need_a_login_and_each_change_its_csrf_token(client, admin_client, web_context):
    for path in ("/settings/keys", "/settings/users", "/settings/webhooks", "/settings/keywords"):
        assert admin_client.post(path, data={"name": "till", "scopes": "send"}).status_code == 400, path
    assert keys.list_keys(web_context.sessions) == []
    post_form(admin_client, "/logout", {}, page="/")
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path


def test_admins_find_every_settings_page_from_the_navigation(admin_client):
    index = admin_client.get("/").get_data(as_text=True)
    assert 'href="/settings"' in index
    menu = admin_client.get("/settings").get_data(as_text=True)
    for path in PAGES[1:]:
        assert f'href="{path}"' in menu


# ---- API keys -----------------------------------------------------------------------------------
def test_a_new_key_is_shown_once_works_against_the_api_and_is_audited_without_it(admin_client, web_context):
    answer = post_form(admin_client, "/settings/keys", {"name": "till", "scopes": ["send", "read"]})
    assert answer.status_code == 200
    token = re.search(r'id="token">(gsk_[^<]+)<', answer.get_data(as_text=True)).group(1)
    assert answer.headers["Cache-Control"] == "no-store"
    sent = admin_client.post("/api/v1/messages", json={"to": "+447700900123", "text": "hi"},
                             headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 202
    listing = admin_client.get("/settings/keys").get_data(as_text=True)
    assert token not in listing and token[:12] in listing and "read, send" in listing
    actor, action, detail = last_audit(web_context)
    assert (actor, action) == ("anna", "key_created") and token not in detail and token[:12] in detail


def test_a_key_needs_a_scope_and_a_name(admin_client, web_context):
    assert post_form(admin_client, "/settings/keys", {"name": "till"}).status_code == 400
    assert post_form(admin_client, "/settings/keys", {"name": "", "scopes": ["send"]}).status_code == 400
    assert post_form(admin_client, "/settings/keys", {"name": "x", "scopes": ["root"]}).status_code == 400
    assert keys.list_keys(web_context.sessions) == []


def test_revoking_a_key_asks_first_then_the_api_refuses_it(admin_client, web_context, make_key):
    key = make_key("send,read", name="web shop")
    confirm = admin_client.get(f"/settings/keys/{key.id}/revoke").get_data(as_text=True)
    assert "Revoke web shop?" in confirm and "is refused from then on" in confirm
    assert admin_client.get("/api/v1/modems", headers=key.headers).status_code == 200  # asking is not doing
    assert admin_client.post(f"/settings/keys/{key.id}/revoke", data={"csrf_token": csrf_of(confirm)}).status_code == 302
    assert admin_client.get("/api/v1/modems", headers=key.headers).status_code == 401
    assert last_audit(web_context)[1:] == ("key_revoked", f"web shop ({key.token[:12]}…)")
    assert "revoked" in admin_client.get("/settings/keys").get_data(as_text=True)


# ---- webhooks -----------------------------------------------------------------------------------
def test_a_webhook_address_follows_the_apis_rules(admin_client, web_context):
    for url in ("http://169.254.169.254/latest", "ftp://pos.local/x", "not a url"):
        answer = post_form(admin_client, "/settings/webhooks", {"url": url, "events": ["message.status"]})
        assert answer.status_code == 400 and "This address cannot be used" in answer.get_data(as_text=True), url
    assert post_form(admin_client, "/settings/webhooks", {"url": "http://pos.local/x"}).status_code == 400  # no event
    assert web_context.webhooks.list_endpoints() == []


def test_a_webhooks_secret_is_shown_once_and_never_audited(admin_client, web_context, receiver):
    endpoint_id, secret = make_endpoint(admin_client, receiver.url)
    assert len(secret) >= 16
    assert secret not in admin_client.get("/settings/webhooks").get_data(as_text=True)
    assert secret not in admin_client.get(f"/settings/webhooks/{endpoint_id}").get_data(as_text=True)
    actor, action, detail = last_audit(web_context)
    assert (actor, action) == ("anna", "webhook_added") and receiver.url in detail and secret not in detail


def test_a_url_password_never_reaches_the_audit_log(admin_client, web_context):
    make_endpoint(admin_client, "http://shop:hunter22@pos.local/hook")
    assert "hunter22" not in last_audit(web_context)[2]


def test_send_test_reaches_the_receiver_and_shows_in_the_delivery_log(admin_client, web_context, receiver):
    endpoint_id, _ = make_endpoint(admin_client, receiver.url)
    page = admin_client.get(f"/settings/webhooks/{endpoint_id}").get_data(as_text=True)
    sent = admin_client.post(f"/settings/webhooks/{endpoint_id}/test", data={"csrf_token": csrf_of(page)})
    assert sent.status_code == 302
    waiting = admin_client.get(f"/settings/webhooks/{endpoint_id}/log").get_data(as_text=True)
    assert f'hx-get="/settings/webhooks/{endpoint_id}/log"' in waiting and "waiting" in waiting
    web_context.webhooks.run_once()
    assert receiver.wait_for(1) and receiver.received[0]["type"] == "webhook.test"
    log = admin_client.get(f"/settings/webhooks/{endpoint_id}/log").get_data(as_text=True)
    assert "hx-get" not in log and "status-delivered" in log and "webhook.test" in log
    assert last_audit(web_context)[1] == "webhook_tested"
    delivery_id = web_context.webhooks.deliveries(endpoint_id=endpoint_id)[0]["id"]
    again = admin_client.post(f"/settings/webhooks/deliveries/{delivery_id}/replay", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 302
    assert web_context.webhooks.deliveries(endpoint_id=endpoint_id)[0]["replay_of"] == delivery_id
    assert last_audit(web_context)[1] == "webhook_replayed"


def test_a_failing_receivers_answer_shows_as_an_excerpt_escaped(admin_client, web_context):
    hostile = Receiver(check_signature=False, status=500, body=XSS.encode())
    try:
        endpoint_id, _ = make_endpoint(admin_client, hostile.url, description=XSS)
        page = admin_client.get(f"/settings/webhooks/{endpoint_id}").get_data(as_text=True)
        admin_client.post(f"/settings/webhooks/{endpoint_id}/test", data={"csrf_token": csrf_of(page)})
        web_context.webhooks.run_once()
        log = admin_client.get(f"/settings/webhooks/{endpoint_id}").get_data(as_text=True)
        assert "<script>" not in log and "&lt;script&gt;" in log and "status-pending" in log
    finally:
        hostile.close()


def test_deactivating_asks_first_then_the_webhook_gets_nothing(admin_client, web_context, receiver):
    endpoint_id, _ = make_endpoint(admin_client, receiver.url)
    confirm = admin_client.get(f"/settings/webhooks/{endpoint_id}/active").get_data(as_text=True)
    assert "Deactivate this webhook?" in confirm and "cancelled" in confirm
    assert web_context.webhooks.get_endpoint(endpoint_id)["active"]
    admin_client.post(f"/settings/webhooks/{endpoint_id}/active", data={"csrf_token": csrf_of(confirm)})
    assert not web_context.webhooks.get_endpoint(endpoint_id)["active"]
    assert last_audit(web_context)[1] == "webhook_deactivated"
    admin_client.post(f"/settings/webhooks/{endpoint_id}/test", data={"csrf_token": csrf_of(confirm)})
    assert web_context.webhooks.deliveries(endpoint_id=endpoint_id) == []
    admin_client.post(f"/settings/webhooks/{endpoint_id}/active", data={"csrf_token": csrf_of(confirm)})
    assert web_context.webhooks.get_endpoint(endpoint_id)["active"]


def test_rotating_the_secret_shows_the_new_one_once(admin_client, web_context, receiver):
    endpoint_id, first = make_endpoint(admin_client, receiver.url)
    confirm = admin_client.get(f"/settings/webhooks/{endpoint_id}/rotate").get_data(as_text=True)
    assert "the old secret still signs" in confirm
    answer = admin_client.post(f"/settings/webhooks/{endpoint_id}/rotate", data={"csrf_token": csrf_of(confirm)})
    second = re.search(r'id="webhook-secret">([^<]+)<', answer.get_data(as_text=True)).group(1)
    assert second != first
    actor, action, detail = last_audit(web_context)
    assert action == "webhook_secret_rotated" and second not in detail and first not in detail


# ---- users --------------------------------------------------------------------------------------
def test_an_admin_adds_a_user_with_a_role_who_can_then_sign_in(admin_client, web_context):
    assert post_form(admin_client, "/settings/users", {"name": "sam", "role": "staff", "password": PASSWORD}).status_code == 302
    assert accounts.authenticate(web_context.sessions, "sam", PASSWORD).role == "staff"
    assert last_audit(web_context) == ("anna", "user_added", "sam (staff)")
    taken = post_form(admin_client, "/settings/users", {"name": "sam", "role": "admin", "password": PASSWORD})
    assert taken.status_code == 400 and "That user name is taken." in taken.get_data(as_text=True)
    short = post_form(admin_client, "/settings/users", {"name": "tom", "role": "staff", "password": "short"})
    assert short.status_code == 400 and accounts.authenticate(web_context.sessions, "tom", "short") is None
    assert post_form(admin_client, "/settings/users", {"name": "eve", "role": "root", "password": PASSWORD}).status_code == 400


def test_a_new_password_ends_that_users_sessions(admin_client, web_context, app):
    sam = add_user(web_context, "sam", "staff")
    other = app.test_client()
    assert sign_in(other, "sam").status_code == 302 and other.get("/").status_code == 200
    new = "a brand new password"
    answer = post_form(admin_client, f"/settings/users/{sam.id}/password", {"password": new, "confirm": new})
    assert answer.status_code == 302
    assert other.get("/").status_code == 302  # signed out
    assert accounts.authenticate(web_context.sessions, "sam", new) is not None
    assert last_audit(web_context) == ("anna", "password_changed", "sam")
    differ = post_form(admin_client, f"/settings/users/{sam.id}/password", {"password": new, "confirm": new + "x"})
    assert differ.status_code == 400


def test_a_disabled_user_is_signed_out_and_cannot_sign_in_until_enabled(admin_client, web_context, app):
    sam = add_user(web_context, "sam", "staff")
    other = app.test_client()
    sign_in(other, "sam")
    confirm = admin_client.get(f"/settings/users/{sam.id}/disabled").get_data(as_text=True)
    assert "Disable sam?" in confirm and "signed out at once" in confirm
    admin_client.post(f"/settings/users/{sam.id}/disabled", data={"csrf_token": csrf_of(confirm)})
    assert last_audit(web_context) == ("anna", "user_disabled", "sam")
    assert other.get("/").status_code == 302
    assert sign_in(other, "sam").status_code == 401
    admin_client.post(f"/settings/users/{sam.id}/disabled", data={"csrf_token": csrf_of(confirm)})
    assert sign_in(other, "sam").status_code == 302
    assert last_audit(web_context)[1:] == ("login", "")


def test_an_admin_cannot_disable_themselves(admin_client, web_context, admin):
    confirm = admin_client.get(f"/settings/users/{admin.id}/disabled").get_data(as_text=True)
    assert "You cannot disable yourself." in confirm and "<button type=\"submit\" class=\"primary danger\">" not in confirm
    admin_client.post(f"/settings/users/{admin.id}/disabled", data={"csrf_token": csrf_of(confirm)})
    assert "You cannot disable yourself." in admin_client.get("/settings/users").get_data(as_text=True)
    assert not accounts.get(web_context.sessions, admin.id).disabled
    assert admin_client.get("/settings/users").status_code == 200  # still signed in, still admin


def test_the_last_admin_who_can_sign_in_stays(web_context, admin):
    with pytest.raises(accounts.UserError, match="last admin"):
        accounts.set_disabled(web_context.sessions, web_context.clock, admin.id, True, actor="cli")
    bob = add_user(web_context, "bob", "admin")
    accounts.set_disabled(web_context.sessions, web_context.clock, admin.id, True, actor="bob")
    with pytest.raises(accounts.UserError, match="yourself"):
        accounts.set_disabled(web_context.sessions, web_context.clock, bob.id, True, actor="bob")


# ---- keywords -----------------------------------------------------------------------------------
@pytest.fixture
def seeded(web_context):
    with web_context.sessions.begin() as session:
        keyword_store.seed_defaults(session, web_context.clock.now())


def _keyword_id(context, label: str) -> int:
    from gateway.consent.models import Keyword

    with context.sessions() as session:
        return session.query(Keyword).filter(Keyword.label == label).one().id


def test_a_custom_keyword_is_added_changed_and_deleted_and_the_pipeline_hears_it(admin_client, web_context, seeded):
    answer = post_form(admin_client, "/settings/keywords", {"word": "FASHION", "action": "join", "group": "fashion",
                                                            "reply": "Welcome to the fashion club"})
    assert answer.status_code == 302
    assert web_context.inbound.matcher.match("fashion!") is not None
    assert last_audit(web_context) == ("anna", "keyword_added", "FASHION: join")
    kw = _keyword_id(web_context, "FASHION")
    post_form(admin_client, f"/settings/keywords/{kw}", {"reply": "New text"})  # `enabled` unticked: off
    assert web_context.inbound.matcher.match("fashion") is None
    page = admin_client.get("/settings/keywords").get_data(as_text=True)
    assert "New text" in page
    confirm = admin_client.get(f"/settings/keywords/{kw}/delete").get_data(as_text=True)
    assert "Delete the keyword FASHION?" in confirm
    admin_client.post(f"/settings/keywords/{kw}/delete", data={"csrf_token": csrf_of(confirm)})
    assert '<bdi dir="auto">FASHION</bdi>' not in admin_client.get("/settings/keywords").get_data(as_text=True)
    assert last_audit(web_context)[1:] == ("keyword_deleted", "FASHION")


def test_keywords_keep_the_apis_rules(admin_client, web_context, seeded):
    assert post_form(admin_client, "/settings/keywords", {"word": "JOINUS", "action": "join"}).status_code == 400
    taken = post_form(admin_client, "/settings/keywords", {"word": "stop", "action": "reply"})
    assert taken.status_code == 400
    stop = _keyword_id(web_context, "STOP")
    off = post_form(admin_client, f"/settings/keywords/{stop}", {"reply": ""})
    assert off.status_code == 400 and "is an opt-out word" in off.get_data(as_text=True)
    assert web_context.inbound.matcher.match("STOP") is not None
    confirm = admin_client.get(f"/settings/keywords/{stop}/delete").get_data(as_text=True)
    assert "turned off, not deleted" in confirm and "csrf_token" in confirm  # only the footer's forms
    admin_client.post(f"/settings/keywords/{stop}/delete", data={"csrf_token": csrf_of(confirm)})
    assert _keyword_id(web_context, "STOP") == stop


# ---- sending rules ------------------------------------------------------------------------------
def test_the_sending_rules_are_shown_with_the_file_and_key_to_change_them(admin_client, web_context):
    from dataclasses import replace

    from gateway.core.config_sections import ConsentSection, ModemSection, SimSection
    from gateway.outbound.limits import Limits

    web_context.config = replace(web_context.config, source="/etc/gsmgw/gsmgw.toml",
                                 consent=ConsentSection(quiet_hours_start="20:00", quiet_hours_end="09:00",
                                                        frequency_cap=3, frequency_days=7.0),
                                 modems=(ModemSection(name="shop1", port="/dev/ttyUSB0",
                                                      limits=Limits(per_minute=5, per_hour=100, per_day=400)),),
                                 sims=(SimSection(iccid="8944000000000012345", limits=Limits(per_day=1200)),))
    page = admin_client.get("/settings/limits").get_data(as_text=True)
    assert "/etc/gsmgw/gsmgw.toml" in page and "[consent] quiet_hours_start" in page
    assert "20:00–09:00" in page and "at most 3 in 7 days" in page
    assert "ICCID 8944000000000012345" in page and 'value="1200"' in page and "shop1" in page
    # editable (tests/test_console_settings_edit.py); the per-modem limits stay the file's
    assert 'name="sims.iccid:8944000000000012345.per_day"' in page and "[modems.limits]" in page


# ---- text from outside ---------------------------------------------------------------------------
def test_names_and_texts_from_outside_are_escaped(admin_client, web_context, make_key, seeded):
    make_key("read", name=XSS)
    web_context.webhooks.create_endpoint("http://pos.local/x", ["message.status"], description=XSS)
    with web_context.sessions.begin() as session:
        keyword_store.add(session, "OFFERS", "reply", now=web_context.clock.now(), reply=XSS)
    for path in ("/settings/keys", "/settings/webhooks", "/settings/keywords"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "<script>" not in page and ESCAPED in page, path
    revoke = admin_client.get("/settings/keys/1/revoke").get_data(as_text=True)
    assert "<script>" not in revoke and ESCAPED in revoke
