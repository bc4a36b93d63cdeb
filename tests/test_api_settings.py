"""GET/PATCH /api/v1/settings/sending through Flask's test client on a real database: what is in force
with its source, a change validated as the console's (the same keys and codes, every bad field
named, nothing stored then), set back to the file's value with null, audited with the key's name,
admin keys only for changes; and the console's page shows what the API set."""

from __future__ import annotations

import pytest

from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection, SimSection
from gateway.outbound.limits import Limits
from gateway.settings import store
from gateway.settings.effective import Effective
from gateway.users import audit

from .console_helpers import admin, admin_client  # noqa: F401  (fixtures)

ICCID = "8944000000000000001"
SIM = f"iccid:{ICCID}"
SHOP = Config(consent=ConsentSection(quiet_hours_start="21:00", quiet_hours_end="08:00", frequency_cap=3,
                                     frequency_days=7),
              sims=[SimSection(iccid=ICCID, limits=Limits(per_minute=10, per_hour=100, per_day=500, per_month=5000))])
URL = "/api/v1/settings/sending"


@pytest.fixture
def shop(web_context):
    web_context.config = SHOP
    return web_context


def test_get_says_each_rule_in_force_and_that_it_is_the_files(client, make_key, shop):
    answer = client.get(URL, headers=make_key("read").headers)
    assert answer.status_code == 200
    consent, sims = answer.json["consent"], answer.json["sims"]
    assert consent["quiet_hours_start"] == {"value": "21:00", "source": "file", "file_value": "21:00",
                                            "changed_by": None, "changed_at": None}
    assert consent["frequency_cap"]["value"] == 3 and consent["frequency_days"]["value"] == 7
    assert list(sims) == [SIM] and sims[SIM]["per_hour"]["value"] == 100


def test_a_patch_changes_what_is_in_force_audited_with_the_keys_name(client, make_key, shop, clock):
    key = make_key("admin", name="stock app")
    answer = client.patch(URL, json={"consent": {"frequency_cap": 1}, "sims": {SIM: {"per_minute": 2}}},
                          headers=key.headers)
    assert answer.status_code == 200, answer.json
    assert answer.json["consent"]["frequency_cap"] == {
        "value": 1, "source": "console", "file_value": 3, "changed_by": "API key stock app",
        "changed_at": answer.json["consent"]["frequency_cap"]["changed_at"]}
    assert answer.json["sims"][SIM]["per_minute"]["value"] == 2
    assert client.get(URL, headers=key.headers).json == answer.json
    details = {(e.actor, e.action, e.detail) for e in audit.recent(shop.sessions)}
    assert details == {("API key stock app", store.SETTING_CHANGED, "consent.frequency_cap = 1"),
                       ("API key stock app", store.SETTING_CHANGED, f"sims.{SIM}.per_minute = 2")}
    effective = Effective(SHOP, shop.sessions)  # what the send-time check and the workers read
    assert effective.rules().frequency_cap == 1
    assert effective.sim_limits().by_iccid[ICCID].per_minute == 2


def test_null_sets_a_rule_back_to_the_files_value(client, make_key, shop):
    key = make_key("admin", name="stock app")
    client.patch(URL, json={"consent": {"quiet_hours_start": "22:30"}}, headers=key.headers)
    answer = client.patch(URL, json={"consent": {"quiet_hours_start": None}}, headers=key.headers)
    assert answer.status_code == 200
    assert answer.json["consent"]["quiet_hours_start"]["source"] == "file"
    assert answer.json["consent"]["quiet_hours_start"]["value"] == "21:00"
    assert store.overrides(shop.sessions) == {}
    assert audit.recent(shop.sessions)[0].action == store.SETTING_RESET


def test_bad_values_are_422_per_field_in_the_consoles_words_and_nothing_changes(client, make_key, shop):
    key = make_key("admin")
    answer = client.patch(URL, json={"consent": {"quiet_hours_start": "25:00", "frequency_days": 0},
                                     "sims": {SIM: {"per_hour": 5}}}, headers=key.headers)
    assert answer.status_code == 422
    errors = {e["field"]: e["message"] for e in answer.json["errors"]}
    assert errors == {"consent.quiet_hours_start": "a time as HH:MM, e.g. 21:00",
                      "consent.frequency_days": "more than 0 days when there is a cap",
                      f"sims.{SIM}.per_hour": "at least the limit of the shorter window (10)"}
    assert store.overrides(shop.sessions) == {} and audit.recent(shop.sessions) == []


def test_unknown_keys_and_sims_without_limits_in_the_file_are_refused(client, make_key, shop):
    key = make_key("admin")
    answer = client.patch(URL, json={"consent": {"double_opt_in": True}}, headers=key.headers)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"].startswith("consent")
    answer = client.patch(URL, json={"sims": {"iccid:8944999": {"per_minute": 1}}}, headers=key.headers)
    assert answer.status_code == 422
    assert answer.json["errors"] == [{"field": "sims.iccid:8944999.per_minute",
                                      "message": "not a setting that can be changed here"}]
    assert client.patch(URL, json={}, headers=key.headers).status_code == 422
    odd = client.patch(URL, data='{"consent": {"\\udb2e": 1}}', headers={**key.headers, "Content-Type": "application/json"})
    assert odd.status_code == 422 and odd.json["errors"] == [{"field": "consent.\udb2e", "message": "unknown field"}]
    assert client.patch(URL, json={"consent": {"frequency_cap": "2"}}, headers=key.headers).status_code == 422
    assert store.overrides(shop.sessions) == {}


def test_reading_needs_a_key_and_changing_an_admin_key(client, make_key, shop):
    assert client.get(URL).status_code == 401
    patch = {"consent": {"frequency_cap": 1}}
    for scopes in ("read", "send,contacts,read"):
        assert client.patch(URL, json=patch, headers=make_key(scopes).headers).status_code == 403
    assert store.overrides(shop.sessions) == {}


def test_the_consoles_page_shows_what_the_api_set_and_who(client, make_key, shop, admin_client):  # noqa: F811
    client.patch(URL, json={"sims": {SIM: {"per_minute": 4}}}, headers=make_key("admin", name="stock app").headers)
    page = admin_client.get("/settings/limits").get_data(as_text=True)
    assert f'name="sims.{SIM}.per_minute" value="4"' in page and "by API key stock app" in page
