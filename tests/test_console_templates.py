"""The templates pages through Flask's test client on a real database, and the domain beneath them
(`gateway.outbound.template_book`): made, edited, deleted and previewed, each refused the way the
API refuses it."""

from __future__ import annotations

import pytest

from gateway.audience import contacts
from gateway.outbound import template_book
from gateway.outbound.models import MessageTemplate
from gateway.users import audit

from .console_helpers import CUSTOMER, OTHER, XSS, csrf_of, post_form
from .console_helpers import admin, admin_client, staff, staff_client  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(60)


# ---- templates ---------------------------------------------------------------------------------------
def _template(web_context, name="welcome", body="Hi {first_name|friend}, 10% off today", kind="marketing") -> int:
    with web_context.sessions.begin() as session:
        return template_book.create(session, name, body, kind, web_context.clock.now()).id


def test_an_admin_creates_edits_and_deletes_a_template_each_audited(admin_client, web_context):
    made = post_form(admin_client, "/templates/new", {"name": "table-ready", "body": "Hi {first_name|there}, your table is ready",
                                                      "kind": "transactional"})
    assert made.status_code == 302
    with web_context.sessions() as session:
        row = template_book.find(session, "table-ready")
    assert made.headers["Location"] == f"/templates/{row.id}" and row.kind == "transactional"
    listing = admin_client.get("/templates").get_data(as_text=True)
    assert "table-ready" in listing and "Transactional" in listing and "Parts as written: 1" in listing
    edited = post_form(admin_client, f"/templates/{row.id}", {"body": "Your table is ready", "kind": "marketing"})
    assert edited.status_code == 302
    with web_context.sessions() as session:
        assert (session.get(MessageTemplate, row.id).body, session.get(MessageTemplate, row.id).kind) == (
            "Your table is ready", "marketing")
    confirm = admin_client.get(f"/templates/{row.id}/delete").get_data(as_text=True)
    assert "Campaigns made from it keep their own copy of the text" in confirm
    gone = post_form(admin_client, f"/templates/{row.id}/delete", {}, page=f"/templates/{row.id}/delete")
    assert gone.status_code == 302 and gone.headers["Location"] == "/templates"
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, row.id) is None
    assert [e.action for e in audit.recent(web_context.sessions)][:3] == [
        "template_deleted", "template_changed", "template_created"]


def test_a_broken_or_taken_template_is_refused_with_the_reason_and_nothing_is_stored(admin_client, web_context):
    _template(web_context)
    broken = post_form(admin_client, "/templates/new", {"name": "broken", "body": "Hi {first_name", "kind": "marketing"})
    assert broken.status_code == 400 and "single &#39;{&#39;" in broken.get_data(as_text=True)
    taken = post_form(admin_client, "/templates/new", {"name": "welcome", "body": "Hi", "kind": "marketing"})
    assert taken.status_code == 400 and "a template named &#39;welcome&#39; exists" in taken.get_data(as_text=True)
    bad_name = post_form(admin_client, "/templates/new", {"name": "has space", "body": "Hi", "kind": "marketing"})
    assert bad_name.status_code == 400
    with web_context.sessions() as session:
        assert [t.name for t in template_book.listing(session)] == ["welcome"]


def test_an_edit_that_breaks_the_template_is_refused_and_the_stored_one_stays(admin_client, web_context):
    made = _template(web_context)
    broken = post_form(admin_client, f"/templates/{made}", {"body": "Hi {first_name.upper}", "kind": "marketing"})
    assert broken.status_code == 400 and 'id="body-error"' in broken.get_data(as_text=True)
    odd_kind = post_form(admin_client, f"/templates/{made}", {"body": "Hi", "kind": "spam"})
    assert odd_kind.status_code == 400
    with web_context.sessions() as session:
        row = session.get(MessageTemplate, made)
        assert (row.body, row.kind) == ("Hi {first_name|friend}, 10% off today", "marketing")


def test_the_api_and_the_console_refuse_the_same_template(client, make_key):
    """One rule: the API's answer names the same fault the console shows."""
    answer = client.post("/api/v1/templates", json={"name": "broken", "body": "Hi {first_name"}, headers=make_key().headers)
    assert answer.status_code == 422 and template_book.body_problem("Hi {first_name") in answer.get_data(as_text=True)


def test_staff_see_templates_and_previews_but_may_not_change_them(staff_client, web_context):
    made = _template(web_context)
    assert "welcome" in staff_client.get("/templates").get_data(as_text=True)
    page = staff_client.get(f"/templates/{made}")
    assert page.status_code == 200 and 'name="body"' not in page.get_data(as_text=True)
    assert staff_client.get("/templates/new").status_code == 403
    assert staff_client.get(f"/templates/{made}/delete").status_code == 403
    token = csrf_of(page.get_data(as_text=True))
    refused = staff_client.post(f"/templates/{made}", data={"csrf_token": token, "body": "x", "kind": "marketing"})
    assert refused.status_code == 403
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, made).body.startswith("Hi {first_name|friend}")


@pytest.mark.parametrize("name, text, encoding, parts", [
    ("Зарина Ахметова", "Hi Зарина, 10% off today", "Unicode (UCS-2)", 1),
    ("سارة", "Hi سارة, 10% off today", "Unicode (UCS-2)", 1),
    (None, "Hi friend, 10% off today", "GSM-7", 1),
])
def test_the_preview_fills_a_contacts_name_or_the_fallback_with_encoding_and_parts(admin_client, web_context, name,
                                                                                    text, encoding, parts):
    made = _template(web_context)
    with web_context.sessions.begin() as session:
        contact = contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff")
        contact.name = name
    page = admin_client.get(f"/templates/{made}", query_string={"number": "07700 900123"}).get_data(as_text=True)
    assert f'<bdi class="text final" dir="auto">{text}</bdi>' in page
    assert f"<dd>{encoding}</dd>" in page and f"<dt>Parts</dt><dd>{parts}</dd>" in page
    assert f"<dt>Characters</dt><dd>{len(text)}</dd>" in page


@pytest.mark.parametrize(("name", "text", "warning"), [
    ("سارة", "Dear {name}, " + "x" * 120,
     ("<dt>Parts</dt><dd>2</dd>", "need Unicode (UCS-2): 2 parts; the template's own words alone: 1.")),
    ("Bartholomew Smithson", "Dear {name}, " + "x" * 140,
     ("<dd>GSM-7</dd>", "make 2 parts; the template's own words alone: 1.")),
], ids=["arabic-needs-unicode", "latin-costs-a-part"])
def test_a_long_name_warns_that_the_contacts_values_cost_more(admin_client, web_context, name, text, warning):
    made = _template(web_context, "long", text, "transactional")
    with web_context.sessions.begin() as session:
        contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff").name = name
    page = admin_client.get(f"/templates/{made}", query_string={"number": CUSTOMER}).get_data(as_text=True)
    for words in warning:
        assert words in page, words


def test_the_preview_says_what_is_missing_or_who_is_unknown(admin_client, web_context):
    made = _template(web_context, "code", "Your code is {code}", "transactional")
    with web_context.sessions.begin() as session:
        contacts.create(session, CUSTOMER, now=web_context.clock.now(), source="staff")
    missing = admin_client.get(f"/templates/{made}", query_string={"number": CUSTOMER}).get_data(as_text=True)
    assert "lacks a value the template needs" in missing and "no value for {code}" in missing
    unknown = admin_client.get(f"/templates/{made}", query_string={"number": OTHER}).get_data(as_text=True)
    assert "No contact has this number." in unknown
    assert "This is not a phone number." in admin_client.get(f"/templates/{made}",
                                                             query_string={"number": "abc"}).get_data(as_text=True)


def test_template_text_is_escaped_everywhere_it_is_shown(admin_client, web_context):
    made = _template(web_context, "evil", XSS.replace("{", "").replace("}", ""), "transactional")
    for path in ("/templates", f"/templates/{made}"):
        page = admin_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path


def test_a_delete_without_its_csrf_token_is_refused_and_the_template_stays(admin_client, web_context):
    made = _template(web_context)
    refused = admin_client.post(f"/templates/{made}/delete", data={})
    assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    with web_context.sessions() as session:
        assert session.get(MessageTemplate, made) is not None


@pytest.mark.parametrize("name, body, kind, field", [
    ("", "Hi", "marketing", "name"), ("-dash-first", "Hi", "marketing", "name"), ("x" * 101, "Hi", "marketing", "name"),
    ("ok", "", "marketing", "body"), ("ok", "x" * 1601, "marketing", "body"), ("ok", "Hi {a.b}", "marketing", "body"),
    ("ok", "Hi", "spam", "kind"),
])
def test_the_template_book_refuses_what_the_api_refuses_naming_the_field(database, clock, name, body, kind, field):
    from gateway.store import db

    with db.sessions(database).begin() as session:
        with pytest.raises(template_book.TemplateRefused) as refused:
            template_book.create(session, name, body, kind, clock.now())
    assert refused.value.field == field


def test_a_template_page_of_no_template_is_404(admin_client):
    assert admin_client.get("/templates/999").status_code == 404
    assert admin_client.get("/templates/999/delete").status_code == 404
