"""The console through Flask's test client on a real SQLite file: setup, sign-in and its throttle,
session expiry on the FakeClock, roles, CSRF, cookies, error pages, languages, escaping.
(The same, and the layout, in a real browser: test_console_browser.py.)"""

from __future__ import annotations

import logging

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gateway.users import accounts, audit
from web.console import i18n
from web.console.security import IDLE_S, MAX_AGE_S, PER_ADDRESS, PER_USER

from .console_helpers import (  # noqa: F401  (fixtures)
    PASSWORD, add_user, admin, admin_client, csrf_of, issue_code, post_form, sign_in, staff, staff_client,
)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _setup(client, code: str, name: str = "anna", password: str = PASSWORD):
    return post_form(client, "/", {"code": code, "name": name, "password": password, "confirm": password})


# ---- first-run setup -----------------------------------------------------------------------------
def test_with_no_user_the_root_is_the_setup_form_and_the_login_page_leads_there(client, web_context):
    page = client.get("/")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    assert client.get("/login").headers["Location"] == "/"


def test_setup_without_the_right_code_makes_nobody_admin(client, web_context):
    issue_code(web_context)
    for code in ("", "AAAAA-AAAAA"):
        answer = _setup(client, code)
        assert answer.status_code == 400
        assert not accounts.any_user(web_context.sessions)
    assert "not the setup code" in _setup(client, "AAAAA-AAAAA").get_data(as_text=True)


def test_setup_with_the_code_makes_the_admin_signs_them_in_and_the_code_is_gone(client, web_context):
    code = issue_code(web_context)
    made = _setup(client, code)
    assert made.status_code == 302 and made.headers["Location"] == "/"
    assert "Dashboard" in client.get("/").get_data(as_text=True)
    assert [e.action for e in audit.recent(web_context.sessions)] == ["setup"]
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    # the same code again: the root is the sign-in page now, the form is gone
    again = client.post("/", data={"code": code, "name": "eve", "password": PASSWORD, "confirm": PASSWORD})
    assert again.status_code == 400  # no CSRF token of a setup form: refused before anything
    assert [a.name for a in [accounts.get(web_context.sessions, 1)]] == ["anna"]
    assert accounts.get(web_context.sessions, 2) is None


def test_setup_guesses_are_throttled_per_address(client, web_context, clock):
    issue_code(web_context)
    limit, window = PER_ADDRESS
    for _ in range(limit):
        assert _setup(client, "WRONG-WRONG").status_code == 400
    code = issue_code(web_context)
    refused = _setup(client, code)
    assert refused.status_code == 429 and "Try again in" in refused.get_data(as_text=True)
    clock.advance(window)
    assert _setup(client, code).status_code == 302


# ---- sign-in, throttling, expiry -------------------------------------------------------------------
def test_every_page_but_login_and_setup_needs_a_login(client, admin):
    for path in ("/", "/audit"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path
    assert client.get("/login").status_code == 200
    token = csrf_of(client.get("/login").get_data(as_text=True))
    refused = client.post("/language", data={"csrf_token": token, "language": "ru"})
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert client.get("/manifest.webmanifest").status_code == 200  # the installable app's manifest is public


def test_a_wrong_password_says_so_and_is_audited_a_right_one_signs_in(client, web_context, admin):
    wrong = sign_in(client, "anna", "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.get_data(as_text=True)
    right = sign_in(client, "anna", PASSWORD, query_string={"next": "/audit"})
    assert right.status_code == 302 and right.headers["Location"] == "/audit"
    assert [(e.action, e.actor, e.detail) for e in audit.recent(web_context.sessions)][:2] == [
        ("login", "anna", ""), ("login_failed", None, "anna")]


def test_sign_in_never_sends_you_to_another_host(client, admin):
    answer = sign_in(client, "anna", query_string={"next": "//evil.example/"})
    assert answer.headers["Location"] == "/"


def test_sign_in_is_throttled_per_user_with_a_clear_message_until_the_window_passes(client, admin, clock):
    limit, window = PER_USER
    for _ in range(limit):
        assert sign_in(client, "anna", "wrong password").status_code == 401
    blocked = sign_in(client, "ANNA", PASSWORD)  # the right password does not help, nor another case
    assert blocked.status_code == 429
    assert "Too many failed attempts. Try again in 15 minutes." in blocked.get_data(as_text=True)
    clock.advance(window - 60)
    assert "Try again in 1 minute." in sign_in(client, "anna", PASSWORD).get_data(as_text=True)
    russian = sign_in(client, "anna", PASSWORD, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Подождите: 1 минута." in russian
    clock.advance(60)
    assert sign_in(client, "anna", PASSWORD).status_code == 302


def test_sign_in_is_throttled_per_address_across_user_names(client, web_context, clock):
    add_user(web_context, "anna", "admin")
    limit, _ = PER_ADDRESS
    for i in range(limit):
        sign_in(client, f"guess{i}", "wrong password")
    assert sign_in(client, "anna", PASSWORD).status_code == 429
    other = client.application.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert sign_in(other, "anna", PASSWORD).status_code == 302


@pytest.mark.parametrize("idle_steps", [
    [IDLE_S + 1],  # left alone too long
    [IDLE_S - 60] * (MAX_AGE_S // (IDLE_S - 60) + 1),  # in use, but signed in too long ago
])
def test_a_session_ends_after_idling_or_at_its_age_on_the_clock(admin_client, clock, idle_steps):
    for step in idle_steps[:-1]:
        clock.advance(step)
        assert admin_client.get("/").status_code == 200
    clock.advance(idle_steps[-1])
    ended = admin_client.get("/")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert "Your session has ended" in admin_client.get(ended.headers["Location"]).get_data(as_text=True)


def test_a_new_password_ends_the_sessions_made_with_the_old_one(admin_client, web_context):
    assert admin_client.get("/").status_code == 200
    accounts.set_password(web_context.sessions, web_context.clock, "anna", "a new long password")
    assert admin_client.get("/").status_code == 302


def test_logout_is_a_post_with_its_token_and_ends_the_session(admin_client, web_context):
    assert admin_client.get("/logout").status_code == 405
    token = csrf_of(admin_client.get("/").get_data(as_text=True))
    assert admin_client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/").status_code == 302
    assert audit.recent(web_context.sessions)[0].action == "logout"


# ---- roles, CSRF, cookies, errors ------------------------------------------------------------------
def test_staff_get_403_on_admin_pages_and_see_no_link_to_them(staff_client):
    assert staff_client.get("/audit").status_code == 403
    assert "Your role does not allow this page" in staff_client.get("/audit").get_data(as_text=True)
    dashboard = staff_client.get("/").get_data(as_text=True)
    assert 'href="/audit"' not in dashboard and "Settings" not in dashboard


def test_admins_see_the_audit_log(admin_client):
    page = admin_client.get("/audit")
    assert page.status_code == 200 and "Signed in" in page.get_data(as_text=True)


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(admin_client, web_context):
    for path in ("/language", "/logout", "/login", "/"):
        answer = admin_client.post(path, data={"language": "ru"})
        assert answer.status_code == 400, path
        assert "security token" in answer.get_data(as_text=True)
    assert accounts.get(web_context.sessions, 1).language is None
    assert admin_client.get("/").status_code == 200  # still signed in


def test_the_api_still_takes_a_bearer_key_without_any_csrf_token(client, make_key):
    key = make_key("send,read")
    answer = client.post("/api/v1/messages", json={"to": "+447700900123", "text": "hi"}, headers=key.headers)
    assert answer.status_code == 202, answer.get_data(as_text=True)


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(client, admin):
    plain = sign_in(client, "anna").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure_client = client.application.test_client()
    token = csrf_of(secure_client.get("/login", base_url="https://box.lan").get_data(as_text=True))
    cookie = secure_client.post("/login", base_url="https://box.lan", headers={"Referer": "https://box.lan/login"},
                                data={"csrf_token": token, "name": "anna", "password": PASSWORD}).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_error_pages_never_show_internals(admin_client, web_context, caplog):
    def broken():
        raise RuntimeError("secret internals: /var/lib/gsmgw/gsmgw.db")

    web_context.modems = broken
    with caplog.at_level(logging.ERROR):
        answer = admin_client.get("/")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "Something went wrong" in body
    assert "secret internals" not in body and "Traceback" not in body
    assert "secret internals" in caplog.text  # it is logged instead
    missing = admin_client.get("/no/such/page")
    assert missing.status_code == 404 and "There is no such page." in missing.get_data(as_text=True)
    assert admin_client.get("/api/v1/no-such").mimetype == "application/problem+json"


def test_pages_ask_for_nothing_from_another_host(admin_client):
    page = admin_client.get("/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    body = page.get_data(as_text=True)
    assert "http://" not in body and "https://" not in body


# ---- languages -------------------------------------------------------------------------------------
def test_the_language_follows_the_browser_then_the_users_choice(admin_client, web_context):
    arabic = admin_client.get("/", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in arabic and "لوحة المعلومات" in arabic
    assert '<html lang="zh" dir="ltr">' in admin_client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in admin_client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    post_form(admin_client, "/language", {"language": "ru"}, page="/")
    russian = admin_client.get("/", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ru" dir="ltr">' in russian and "Обзор" in russian
    assert accounts.get(web_context.sessions, 1).language == "ru"


def _msgids() -> set[str]:
    import web.console

    root = web.console.__path__[0]
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None}
    return {message for _, _, message, _, _ in extract_from_dir(root, method_map, keywords=keywords) if message}


@pytest.mark.parametrize("code", i18n.CODES[1:])
def test_every_string_of_the_console_is_translated(code):
    """No English left on a translated page: each msgid in the code and templates has a translation,
    none fuzzy, with the same placeholders; nothing stale stays in the catalogue."""
    import re

    with i18n.catalogue_path(code).open("rb") as file:
        catalogue = read_po(file)
    translated = {m.id: m for m in catalogue if m.id}
    wanted = _msgids()
    assert wanted, "nothing extracted: the extraction itself is broken"
    assert sorted(wanted - set(translated)) == []
    assert sorted(set(translated) - wanted) == []
    for msgid in wanted:
        message = translated[msgid]
        assert message.string and not message.fuzzy, msgid
        assert sorted(re.findall(r"%\(\w+\)s", message.string)) == sorted(re.findall(r"%\(\w+\)s", msgid)), msgid


def test_the_catalogues_compile_from_a_fresh_clone(admin_client):
    """Only .po files are in the tree: the app compiles them when it is made."""
    import web.console

    assert not list(__import__("pathlib").Path(web.console.__path__[0]).rglob("*.mo"))
    assert "Журнал действий" in admin_client.get("/audit", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "审计日志" in admin_client.get("/audit", headers={"Accept-Language": "zh"}).get_data(as_text=True)


def test_a_catalogue_is_compiled_once_per_version_of_its_file(tmp_path, monkeypatch):
    """Each app made in a process (the suite makes hundreds) shares one compiled catalogue per
    language; a .po file that changed is compiled again."""
    first = i18n.compile_catalogue("ru")
    assert i18n.compile_catalogue("ru") is first
    assert i18n.compile_catalogue("zh") is not first
    copy = tmp_path / "ru" / "LC_MESSAGES" / "messages.po"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(i18n.catalogue_path("ru").read_bytes().replace("Журнал действий".encode(), "Журнал".encode()))
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path)
    changed = i18n.compile_catalogue("ru")
    assert changed is not first and changed.gettext("Audit log") == "Журнал"


# ---- dashboard ---------------------------------------------------------------------------------------
def _modem(name: str = "shop1", **changes) -> dict:
    entry = {"name": name, "state": "ready", "reason": None, "port": "/dev/ttyUSB0", "recovery": None,
             "operator": "Virtual Tel", "registration": "home", "signal": {"bars": 3, "dbm": -81, "csq": 16},
             "identity": {"manufacturer": "SIMCOM", "model": "SIM800", "imei": "1", "imsi": "2",
                          "iccid": "8944000000000012345"},
             "limits": {"hour": {"used": 12, "left": 188, "cap": 200}, "day": {"used": 40, "left": 960, "cap": 1000}},
             "next_slot_at": None}
    entry.update(changes)
    return entry


def test_the_dashboard_has_a_card_per_modem_and_the_queue_depth(admin_client, modem_list, queue):
    modem_list += [_modem(), _modem("shop2", state="sim_error", reason="PIN refused, 2 tries left",
                                    signal=None, operator=None, registration=None, limits={})]
    queue.enqueue("+447700900123", "hello")
    page = admin_client.get("/").get_data(as_text=True)
    assert page.count('class="card ') == 2
    assert 'aria-label="3 of 5 bars"' in page and "-81 dBm" in page
    assert "Virtual Tel" in page and "Home network" in page and "SIM ready" in page and "…012345" in page
    assert "Last hour" in page and "12 of 200" in page and "40 of 1,000" in page
    assert "SIM problem" in page and "PIN refused, 2 tries left" in page
    assert '<dt>Waiting</dt><dd>1</dd>' in page


def test_a_modem_in_recovery_shows_the_ladders_last_step(admin_client, modem_list):
    """The technician and the shop see where the recovery ladder is (the line the log has too)."""
    step = "shop1: recovery step 2/4: reset (AT+CFUN=1,1), next try in 30 s"
    modem_list += [_modem(state="hung", reason="no answer to AT", recovery=step), _modem("shop2")]
    page = admin_client.get("/").get_data(as_text=True)
    assert page.count('class="recovery"') == 1 and step in page
    assert "Восстановление" in admin_client.get("/", headers={"Accept-Language": "ru"}).get_data(as_text=True)


def test_text_from_modems_and_sms_is_escaped_and_keeps_its_own_direction(admin_client, modem_list, web_context):
    from datetime import UTC, datetime

    from gateway.inbound.models import InboundMessage

    modem_list.append(_modem(operator=XSS, reason=XSS))
    with web_context.sessions.begin() as session:
        session.add(InboundMessage(modem="shop1", sender="+447700900123", text=XSS, received_at=datetime.now(UTC)))
        session.add(InboundMessage(modem="shop1", sender="+971500000000", text="مرحبا، هل المتجر مفتوح؟",
                                   received_at=datetime.now(UTC)))
    page = admin_client.get("/").get_data(as_text=True)
    assert "<script>" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;") == 3
    assert '<bdi class="text" dir="auto">مرحبا، هل المتجر مفتوح؟</bdi>' in page
    assert '<dd dir="auto">&lt;script&gt;' in page


def test_the_stylesheet_closes_every_block_it_opens():
    """A block left open (a merged section's lost `}`) silently swallows every rule after it."""
    import re
    from pathlib import Path

    import web.console

    css = (Path(web.console.__path__[0]) / "static" / "console" / "console.css").read_text()
    depth = 0
    for number, line in enumerate(re.sub(r"/\*.*?\*/", "", css, flags=re.S).splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"console.css line {number}: a `}}` closes nothing"
    assert depth == 0, "console.css leaves a block open"


def test_a_sub_page_marks_its_section_in_the_navigation(admin_client):
    for path, section in (("/contacts/new", "/contacts"), ("/groups/new", "/contacts"), ("/templates/new", "/templates"),
                          ("/settings/keys", "/settings")):
        page = admin_client.get(path).get_data(as_text=True)
        assert f'href="{section}" aria-current="true"' in page, path
        assert page.count("aria-current=") == 2, path  # the top navigation and the phone's, nothing else
    assert 'href="/contacts" aria-current="page"' in admin_client.get("/contacts").get_data(as_text=True)
