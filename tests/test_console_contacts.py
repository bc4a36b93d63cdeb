"""The contacts, groups, segments and import/export pages through Flask's test client on a real
database: search, add/edit/erase, consent history and opt in/out through the one opt-in rule, audit
entries, groups and segments with their counts, CSV import with its report and rejected rows, export.
(The same in a real browser: test_console_contacts_browser.py.)"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from gateway.audience import contacts, directory
from gateway.audience.models import Contact
from gateway.consent import ledger
from gateway.consent.models import ConsentKind, ConsentSource
from gateway.users import audit

from .console_helpers import admin, csrf_of, post_form, staff, staff_client  # noqa: F401  (fixtures)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def web_context(web_context, tmp_path):
    """The data directory (uploads, the session key) is the test's own."""
    web_context.config = replace(web_context.config, gateway=replace(web_context.config.gateway, data_dir=str(tmp_path)))
    return web_context


def _contact(web_context, number: str, name: str | None = None, **kwargs) -> int:
    with web_context.sessions.begin() as session:
        contact = directory.save(session, None, directory.Details(number=number, name=name, **kwargs),
                                 now=web_context.clock.now(), default_region="GB")
        return contact.id


def _actions(web_context) -> list[str]:
    return [e.action for e in audit.recent(web_context.sessions)]


def test_the_contacts_pages_need_a_login(client, admin):
    for path in ("/contacts", "/contacts/new", "/contacts/import", "/contacts/export.csv", "/groups", "/segments/new"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path


def test_staff_can_add_a_contact_and_it_is_audited(staff_client, web_context):
    answer = post_form(staff_client, "/contacts/new", {"number": "07700 900123", "name": "Olga", "tags": "vip, new",
                                                       "groups": "shop", "fields": "city: Leeds"})
    assert answer.status_code == 302
    with web_context.sessions() as session:
        contact = contacts.find(session, "+447700900123")
        assert contact.name == "Olga" and contact.fields == {"city": "Leeds"}
        assert directory.tags_of(session, contact.id) == ["new", "vip"]
        assert contacts.groups_of(session, contact.id) == ["shop"]
    assert _actions(web_context)[0] == "contact_added"


def test_a_wrong_number_is_a_clear_error_and_the_fields_are_kept(staff_client, web_context):
    answer = post_form(staff_client, "/contacts/new", {"number": "12", "name": "Олег Петров", "tags": "vip"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "This number cannot be used" in html and 'aria-invalid="true"' in html
    assert 'value="Олег Петров"' in html and 'value="vip"' in html and 'value="12"' in html
    with web_context.sessions() as session:
        assert session.query(Contact).count() == 0


def test_a_number_another_contact_has_is_refused(staff_client, web_context):
    _contact(web_context, "+447700900123", "First")
    other = _contact(web_context, "+447700900124", "Second")
    answer = post_form(staff_client, f"/contacts/{other}/edit", {"number": "+44 7700 900123", "name": "Second"})
    assert answer.status_code == 422 and "already the number of another contact" in answer.get_data(as_text=True)


def test_search_by_name_prefix_in_any_case_number_tag_and_group(staff_client, web_context):
    _contact(web_context, "+447700900001", "Ольга Петрова", tags=["vip"])
    _contact(web_context, "+447700900002", "Oliver", groups=["shop"])
    _contact(web_context, "+79161234567", "Zoë")

    def names(query: str) -> list[str]:
        html = staff_client.get(f"/contacts?{query}").get_data(as_text=True)
        return [n for n in ("Ольга Петрова", "Oliver", "Zoë") if n in html]

    assert names("q=ольга") == ["Ольга Петрова"]
    assert names("q=Ol") == ["Oliver"]
    assert names("q=07700") == ["Ольга Петрова", "Oliver"]
    assert names("q=%2B7916") == ["Zoë"]
    assert names("tag=vip") == ["Ольга Петрова"]
    assert names("group=shop") == ["Oliver"]
    assert "No contact matches." in staff_client.get("/contacts?q=nobody").get_data(as_text=True)


def test_the_list_is_paged_by_id(staff_client, web_context):
    ids = [_contact(web_context, f"+4477009002{i:02d}", f"P{i:02d}") for i in range(directory.PAGE + 3)]
    first = staff_client.get("/contacts").get_data(as_text=True)
    assert f"P{directory.PAGE + 2:02d}" in first and "P02" not in first
    assert f"before={ids[3]}" in first
    second = staff_client.get(f"/contacts?before={ids[3]}").get_data(as_text=True)
    assert "P02" in second and "P00" in second and "Next page" not in second


def test_the_consent_history_shows_what_the_customer_wrote_escaped(staff_client, web_context):
    contact_id = _contact(web_context, "+447700900123", XSS)
    with web_context.sessions.begin() as session:
        contact = session.get(Contact, contact_id)
        ledger.record(session, contact, ConsentKind.OPT_OUT, source=ConsentSource.KEYWORD,
                      at=web_context.clock.now(), detail="SMS")
    html = staff_client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;" in html
    assert "By SMS, from the customer" in html and "pressing Opt in here only asks them" in html


def test_opt_in_and_opt_out_are_recorded_with_who_and_audited(staff_client, web_context):
    contact_id = _contact(web_context, "+447700900123", "Olga")
    page = f"/contacts/{contact_id}"
    answer = post_form(staff_client, f"{page}/consent", {"opt_in": "1"}, page=page, follow_redirects=True)
    assert "Opted in." in answer.get_data(as_text=True)
    assert post_form(staff_client, f"{page}/consent", {"opt_out": "1"}, page=page).status_code == 302
    with web_context.sessions() as session:
        history = ledger.history(session, contact_id)
        assert [(e.kind, e.source, e.detail) for e in history] == [("opt_in", "staff", "console: sam"),
                                                                     ("opt_out", "staff", "console: sam")]
        assert ledger.state_of(session, contact_id).status == "opted_out"
    assert _actions(web_context)[:2] == ["opted_out", "opted_in"]


def test_after_the_customers_stop_an_opt_in_by_staff_only_asks(staff_client, web_context):
    contact_id = _contact(web_context, "+447700900123", "Olga")
    with web_context.sessions.begin() as session:
        ledger.record(session, session.get(Contact, contact_id), ConsentKind.OPT_OUT, source=ConsentSource.KEYWORD,
                      at=web_context.clock.now())
    page = f"/contacts/{contact_id}"
    answer = post_form(staff_client, f"{page}/consent", {"opt_in": "1"}, page=page, follow_redirects=True)
    assert "a text asking them to reply YES was sent" in answer.get_data(as_text=True)
    with web_context.sessions() as session:
        assert ledger.state_of(session, contact_id).status == "opted_out"
    assert _actions(web_context)[0] == "opt_in_requested"
    assert web_context.queue.depth().get("queued") == 1  # the "Reply YES" text


def test_a_consent_post_without_its_token_is_refused(staff_client, web_context):
    contact_id = _contact(web_context, "+447700900123", "Olga")
    answer = staff_client.post(f"/contacts/{contact_id}/consent", data={"opt_out": "1"})
    assert answer.status_code == 400
    with web_context.sessions() as session:
        assert ledger.history(session, contact_id) == []


def test_erase_confirms_what_happens_then_keeps_the_number_opted_out(staff_client, web_context):
    contact_id = _contact(web_context, "+447700900123", "Olga", tags=["vip"])
    page = f"/contacts/{contact_id}/erase"
    assert "never sent marketing again" in staff_client.get(page).get_data(as_text=True)
    assert post_form(staff_client, page, {}).status_code == 302
    with web_context.sessions() as session:
        contact = session.get(Contact, contact_id)
        assert contact.name is None and directory.tags_of(session, contact_id) == []
        assert ledger.state_of(session, contact_id).status == "opted_out"
    assert "contact_erased" in _actions(web_context)


# ---- groups and segments ----------------------------------------------------------------------------
def test_groups_with_member_counts_add_rename_delete(staff_client, web_context):
    _contact(web_context, "+447700900001", "A", groups=["shop"])
    _contact(web_context, "+447700900002", "B", groups=["shop"])
    assert post_form(staff_client, "/groups/new", {"name": "empty"}).status_code == 302
    html = staff_client.get("/groups").get_data(as_text=True)
    assert "shop" in html and "empty" in html
    assert '<td data-label="Members" class="count">2</td>' in html
    assert post_form(staff_client, "/groups/new", {"name": "shop"}).status_code == 422  # taken
    with web_context.sessions() as session:
        rows = {g.name: g for g in directory.groups_with_counts(session)}
    assert post_form(staff_client, f"/groups/{rows['shop'].id}", {"name": "Shop"}).status_code == 302
    confirm = staff_client.get(f"/groups/{rows['shop'].id}/delete").get_data(as_text=True)
    assert "Its contacts (2) stay" in confirm
    assert post_form(staff_client, f"/groups/{rows['shop'].id}/delete", {}).status_code == 302
    with web_context.sessions() as session:
        assert [g.name for g in directory.groups_with_counts(session)] == ["empty"]
        assert session.query(Contact).count() == 2
    assert _actions(web_context)[:3] == ["group_deleted", "group_changed", "group_added"]


def _segment_form(name: str, match: str = "all", *conditions: tuple[str, str]) -> dict[str, str]:
    data = {"name": name, "match": match}
    for i, (kind, value) in enumerate(conditions):
        data[f"conditions-{i}-kind"] = kind
        data[f"conditions-{i}-value"] = value
    return data


def test_a_segment_counts_without_javascript_and_saves(staff_client, web_context):
    _contact(web_context, "+447700900001", "A", tags=["vip"])
    _contact(web_context, "+447700900002", "B", tags=["vip"], language="ru")
    _contact(web_context, "+447700900003", "C")
    counted = post_form(staff_client, "/segments/new", {**_segment_form("VIP", "all", ("tag", "vip")), "count": "1"})
    assert counted.status_code == 200 and "Contacts who match: 2" in counted.get_data(as_text=True)
    assert "Of them, may get marketing now: 0" in counted.get_data(as_text=True)
    narrower = post_form(staff_client, "/segments/new",
                         {**_segment_form("VIP", "all", ("tag", "vip"), ("language", "ru")), "count": "1"})
    assert "Contacts who match: 1" in narrower.get_data(as_text=True)
    saved = post_form(staff_client, "/segments/new", {**_segment_form("VIP", "all", ("tag", "vip")), "submit": "1"})
    assert saved.status_code == 302
    listed = staff_client.get("/groups").get_data(as_text=True)
    assert "VIP" in listed
    segment_id = int(listed.split('href="/segments/')[2].split('"')[0])
    page = staff_client.get(f"/segments/{segment_id}").get_data(as_text=True)
    assert "Contacts who match: 2" in page and 'value="vip"' in page
    assert "segment_added" in _actions(web_context)


def test_the_live_count_answers_with_the_count_alone(staff_client, web_context):
    _contact(web_context, "+447700900001", "A", tags=["vip"])
    token = csrf_of(staff_client.get("/segments/new").get_data(as_text=True))
    answer = staff_client.post("/segments/count", data={"csrf_token": token, **_segment_form("", "any", ("tag", "vip"))})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in html and "<output" not in html and "Contacts who match: 1" in html
    bad = staff_client.post("/segments/count", data={"csrf_token": token,
                                                     **_segment_form("", "all", ("replied_within_days", "soon"))})
    assert "Condition 1: needs a number of days" in bad.get_data(as_text=True)
    assert staff_client.post("/segments/count", data=_segment_form("", "all", ("tag", "vip"))).status_code == 400


# ---- import and export ------------------------------------------------------------------------------
def _upload(client, body: str, basis: str = "file", proof: str = "", **kwargs):
    token = csrf_of(client.get("/contacts/import").get_data(as_text=True))
    return client.post("/contacts/import", data={"csrf_token": token, "basis": basis, "proof": proof,
                                                 "file": (io.BytesIO(body.encode()), "list.csv")},
                       content_type="multipart/form-data", **kwargs)


def test_an_import_reports_each_row_and_offers_the_rejected_rows(staff_client, web_context):
    body = "number,name,city\n07700 900001,Olga,Leeds\n12,Broken,York\n+447700900002,Ann,Hull\n"
    answer = _upload(staff_client, body, follow_redirects=True)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Import report" in html
    assert "invalid number" in html and "Rejected" in html
    link = html.split('href="/contacts/import/')[1].split('"')[0]
    rejected = staff_client.get(f"/contacts/import/{link}")
    rows = list(csv.reader(io.StringIO(rejected.get_data(as_text=True))))
    assert rows[0] == ["number", "name", "city", "reason"]
    assert rows[1][:3] == ["12", "Broken", "York"] and rows[1][3].startswith("invalid number")
    assert len(rows) == 2
    with web_context.sessions() as session:
        assert session.query(Contact).count() == 2
    assert _actions(web_context)[0] == "contacts_imported"


def test_a_file_without_the_expected_header_gets_its_columns_chosen(staff_client, web_context):
    answer = _upload(staff_client, "Telefon,Имя\n07700 900001,Ольга\n")
    assert answer.status_code == 302 and "/columns" in answer.headers["Location"]
    page = staff_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Choose the columns" in page and "Ольга" in page
    done = post_form(staff_client, answer.headers["Location"], {"col-0": "number", "col-1": "name", "basis": "none"},
                     follow_redirects=True)
    assert "Import report" in done.get_data(as_text=True)
    with web_context.sessions() as session:
        assert contacts.find(session, "+447700900001").name == "Ольга"


def test_everyone_agreed_needs_proof_and_then_opts_them_in(staff_client, web_context):
    assert _upload(staff_client, "number\n07700900001\n", basis="all").status_code == 422
    assert _upload(staff_client, "number\n07700900001\n", basis="all", proof="paper form, 2026-11-30").status_code == 302
    with web_context.sessions() as session:
        contact = contacts.find(session, "+447700900001")
        events = ledger.history(session, contact.id)
        assert [(e.kind, e.source, e.detail) for e in events] == [("opt_in", "import", "import: paper form, 2026-11-30")]


def test_a_file_that_is_not_utf8_is_refused_with_the_reason(staff_client, web_context):
    token = csrf_of(staff_client.get("/contacts/import").get_data(as_text=True))
    answer = staff_client.post("/contacts/import", data={"csrf_token": token, "basis": "file",
                                                         "file": (io.BytesIO("number,name\n1,é\n".encode("latin-1")), "x.csv")},
                               content_type="multipart/form-data")
    assert answer.status_code == 422 and "not UTF-8" in answer.get_data(as_text=True)


def test_the_export_neutralises_formulas(staff_client, web_context):
    _contact(web_context, "+447700900001", '=HYPERLINK("http://evil.example","x")', tags=["=cmd|' /C calc'!A0"])
    answer = staff_client.get("/contacts/export.csv")
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert answer.headers["Content-Disposition"].startswith("attachment")
    assert rows[0][:7] == ["number", "name", "language", "timezone", "birthday", "tags", "groups"]
    assert rows[1][0] == "+447700900001"
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\",\"x\")" and rows[1][5].startswith("'=")
    assert _actions(web_context)[0] == "contacts_exported"


# ---- the consent filter ------------------------------------------------------------------------------
def _consent_shop(web_context) -> None:
    """Ann opted in; Ben opted in, then STOP; Cas STOP, then START; Dee no decision; Eve STOPALL."""
    audience = web_context.audience
    for number, name in (("+447700900301", "Ann"), ("+447700900302", "Ben"), ("+447700900303", "Cas"),
                         ("+447700900304", "Dee"), ("+447700900305", "Eve")):
        _contact(web_context, number, name, tags=["vip"] if name in ("Ann", "Ben") else [])
    audience.opt_in("+447700900301", source=ConsentSource.KEYWORD)
    audience.opt_in("+447700900302", source=ConsentSource.KEYWORD)
    audience.opt_out("+447700900302", source=ConsentSource.KEYWORD)
    audience.opt_out("+447700900303", source=ConsentSource.KEYWORD)
    audience.opt_in("+447700900303", source=ConsentSource.KEYWORD)
    audience.opt_out("+447700900305", source=ConsentSource.KEYWORD, scope="all")


def test_the_list_filters_by_the_newest_consent_decision(staff_client, web_context):
    _consent_shop(web_context)

    def names(query: str) -> list[str]:
        html = staff_client.get(f"/contacts?{query}").get_data(as_text=True)
        return [n for n in ("Ann", "Ben", "Cas", "Dee", "Eve") if f'class="name">{n}<' in html]

    assert names("consent=opted_out") == ["Ben", "Eve"]
    assert names("consent=opted_in") == ["Ann", "Cas"]
    assert names("consent=") == ["Ann", "Ben", "Cas", "Dee", "Eve"]
    assert names("consent=opted_out&tag=vip") == ["Ben"]
    page = staff_client.get("/contacts?consent=opted_out").get_data(as_text=True)
    assert '<option selected value="opted_out">Opted out of marketing</option>' in page
    arabic = staff_client.get("/contacts", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "ألغى الاشتراك في الرسائل التسويقية" in arabic


def test_the_filter_matches_the_ledgers_own_reading_of_each_contact(web_context):
    _consent_shop(web_context)
    with web_context.sessions() as session:
        every = directory.search(session, directory.Search(), "GB").contacts
        states = {c.name: ledger.state_of(session, c.id) for c in every}
        for consent, wanted in (("opted_in", lambda s: s.marketing_allowed), ("opted_out", lambda s: s.opted_out)):
            found = directory.search(session, directory.Search(consent=consent), "GB").contacts
            assert {c.name for c in found} == {n for n, s in states.items() if wanted(s)}, consent


def test_a_filtered_list_pages_by_id_and_keeps_its_filter(staff_client, web_context):
    ids = [_contact(web_context, f"+4477009004{i:02d}", f"Q{i:02d}") for i in range(directory.PAGE + 4)]
    for i in range(len(ids)):
        if i != 1:  # all but Q01 opted out: more than a page
            web_context.audience.opt_out(f"+4477009004{i:02d}", source=ConsentSource.KEYWORD)
    first = staff_client.get("/contacts?consent=opted_out").get_data(as_text=True)
    assert "Q53" in first and "Q04" in first and "Q03" not in first
    more = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "consent=opted_out" in more
    second = staff_client.get(more).get_data(as_text=True)
    assert "Q03" in second and "Q02" in second and "Q00" in second and "Q01" not in second
    assert "Next page" not in second


@pytest.mark.sqlite_only
def test_the_consent_filters_page_reads_indexes_only(queue):
    from sqlalchemy import select, text
    from sqlalchemy.dialects import sqlite

    for consent in directory.CONSENT_FILTERS.values():
        statement = (select(Contact.id).where(ledger.newest_decision_is(consent), Contact.id < 1000)
                     .order_by(Contact.id.desc()).limit(51)
                     .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        with queue.sessions() as session:
            plan = " | ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
        assert "ix_consent_events_kind_at (kind=?)" in plan and "ix_consent_events_contact (contact_id=?)" in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
