"""/campaigns through the Flask test client, a real SQLite file and the real queue: create, the dry
run page by page, start, pause/resume/cancel, progress, recipients, the campaign on each message."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.campaigns.service import Campaigns
from gateway.campaigns.timing import Sim
from gateway.outbound.limits import Limits

from .campaign_helpers import add_contacts


@pytest.fixture
def web_context(web_context, queue, clock):
    campaigns = Campaigns(queue.sessions, clock, queue, sims=lambda: [Sim("sim1", Limits(per_minute=6))])
    return dataclasses.replace(web_context, campaigns=campaigns)


def call(client, method: str, path: str, key, body=None):
    return client.open(f"/api/v1{path}", method=method, json=body, headers=key.headers)


def run(web_context, campaign_id: int) -> None:
    for _ in range(50):  # the job's rounds, as the scheduler would run them
        if web_context.campaigns.tick(campaign_id) is None:
            return


def test_create_preview_start_and_follow_a_campaign(client, make_key, database, clock, web_context):
    now = clock.now()
    add_contacts(database, [{"number": "+447700900001", "name": "Ольга Петрова", "language": "ru"},
                            {"number": "+447700900002"}], now, group="vip")
    add_contacts(database, [{"number": "+447700900003", "name": "Bob"}], now, group="vip", consent="opt_out")
    key = make_key("send,read")
    made = call(client, "POST", "/campaigns", key, {"name": "Winter sale", "text": "Hi {first_name|friend}, 20% off",
                                                     "audience": {"groups": ["vip"]}, "footer": True})
    assert made.status_code == 201, made.json
    assert made.json["status"] == "draft" and made.headers["Location"].endswith(f"/campaigns/{made.json['id']}")
    campaign_id = made.json["id"]

    first = call(client, "GET", f"/campaigns/{campaign_id}/preview?limit=2", key)
    assert first.status_code == 200, first.json
    assert [i["text"] for i in first.json["items"]] == ["Hi Ольга, 20% off\nСТОП — отписаться",
                                                         "Hi friend, 20% off\nReply STOP to opt out"]
    assert [i["encoding"] for i in first.json["items"]] == ["ucs2", "gsm7"]
    rest = call(client, "GET", f"/campaigns/{campaign_id}/preview?limit=2&totals=true&cursor={first.json['next_cursor']}", key)
    assert rest.json["next_cursor"] is None and rest.json["items"][0]["skip"] == "opted out"
    assert rest.json["totals"]["to_send"] == 2 and rest.json["totals"]["skipped_by_reason"] == {"opted out": 1}

    assert call(client, "POST", f"/campaigns/{campaign_id}/start", key).status_code == 202
    assert call(client, "POST", f"/campaigns/{campaign_id}/start", key).status_code == 409
    run(web_context, campaign_id)
    got = call(client, "GET", f"/campaigns/{campaign_id}", key).json
    assert got["status"] == "running" and got["counts"]["recipients"] == 3
    assert got["counts"]["queued"] == 2 and got["counts"]["suppressed"] == 1
    assert got["variants"][0]["recipients"] == 3
    messages = call(client, "GET", f"/messages?campaign_id={campaign_id}", key).json["items"]
    assert len(messages) == 2 and {m["campaign_id"] for m in messages} == {campaign_id}
    skipped = call(client, "GET", f"/campaigns/{campaign_id}/recipients?state=skipped", key).json["items"]
    assert [(r["to"], r["reason"]) for r in skipped] == [("+447700900003", "opted out")]

    assert call(client, "POST", f"/campaigns/{campaign_id}/pause", key).json["status"] == "paused"
    assert call(client, "POST", f"/campaigns/{campaign_id}/pause", key).status_code == 409
    assert call(client, "POST", f"/campaigns/{campaign_id}/resume", key).json["status"] == "running"
    assert call(client, "POST", f"/campaigns/{campaign_id}/cancel", key).json["status"] == "cancelled"
    assert call(client, "GET", f"/campaigns/{campaign_id}", key).json["counts"]["cancelled"] == 2
    assert [c["id"] for c in call(client, "GET", "/campaigns?status=cancelled", key).json["items"]] == [campaign_id]


def _nested(depth: int) -> dict:
    segment: dict = {"tag": "vip"}
    for _ in range(depth):
        segment = {"not": segment}
    return segment


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "audience": {"groups": ["vip"]}}, "text"),
    ({"name": "x", "text": "a", "template": "t", "audience": {"groups": ["vip"]}}, "text"),
    ({"name": "x", "text": "Hi {first_name", "audience": {"groups": ["vip"]}}, "text"),
    ({"name": "x", "text": "a", "audience": {"groups": ["nobody"]}}, "audience.groups[0]"),
    ({"name": "x", "text": "a", "audience": {"tags": ["nothing"]}}, "audience.tags[0]"),
    ({"name": "x", "text": "a", "audience": {"segment": {"bogus": 1}}}, "audience.segment"),
    ({"name": "x", "template": "missing", "audience": {"groups": ["vip"]}}, "template"),
    ({"name": "x", "variants": [{"text": "a"}, {"weight": 2}], "audience": {"groups": ["vip"]}}, "variants[1].text"),
    ({"name": "x", "text": "a", "audience": {"groups": ["vip"]}, "window": {"start": "25:00", "end": "20:00"}},
     "window.start"),
    ({"name": "x", "text": "a", "audience": {"groups": ["vip"]}, "send_at": "tomorrow"}, "send_at"),
    ({"name": "x\ud800", "text": "a", "audience": {"groups": ["vip"]}}, "name"),
    ({"name": "x", "text": "a", "audience": {"groups": ["vip\udc00"]}}, "audience.groups[0]"),
    ({"name": "x", "variants": [{"text": "a\ud800"}], "audience": {"groups": ["vip"]}}, "variants[0].text"),
    ({"name": "x", "text": "a", "audience": {"segment": _nested(500)}}, "audience.segment"),
])
def test_bad_campaigns_get_a_422_naming_the_field(client, make_key, database, clock, body, field):
    add_contacts(database, [{"number": "+447700900001"}], clock.now(), group="vip")
    answer = call(client, "POST", "/campaigns", make_key("send"), body)
    assert answer.status_code == 422, answer.json
    assert field in [e["field"] for e in answer.json["errors"]]


def test_scopes_and_missing_campaigns(client, make_key, database, clock):
    add_contacts(database, [{"number": "+447700900001"}], clock.now(), group="vip")
    reader = make_key("read")
    body = {"name": "x", "text": "a", "audience": {"groups": ["vip"]}}
    assert call(client, "POST", "/campaigns", reader, body).status_code == 403
    assert call(client, "GET", "/campaigns/99", reader).status_code == 404
    assert call(client, "GET", "/campaigns/99/preview", reader).status_code == 404
    assert call(client, "POST", "/campaigns/99/start", make_key("send")).status_code == 404


def test_variants_and_templates(client, make_key, database, clock):
    add_contacts(database, [{"number": f"+4477009000{i:02d}"} for i in range(1, 41)], clock.now(), group="vip")
    admin = make_key("send,read,admin")
    assert call(client, "POST", "/templates", admin, {"name": "promo", "body": "Promo {first_name|}",
                                                      "kind": "marketing"}).status_code == 201
    made = call(client, "POST", "/campaigns", admin, {"name": "ab", "variants": [{"template": "promo"},
                                                                               {"text": "Other", "weight": 3}],
                                                      "audience": {"groups": ["vip"]}}).json
    page = call(client, "GET", f"/campaigns/{made['id']}/preview?limit=40", admin).json["items"]
    texts = {i["variant"]: i["text"] for i in page}
    assert texts == {0: "Promo ", 1: "Other"}
    assert sum(1 for i in page if i["variant"] == 1) > sum(1 for i in page if i["variant"] == 0)
    got = call(client, "GET", f"/campaigns/{made['id']}", admin).json
    assert [(v["variant"], v["weight"], v["template_id"] is not None) for v in got["variants"]] == [(0, 1, True), (1, 3, False)]


def test_a_template_deleted_later_leaves_the_campaign_its_text(client, make_key, database, clock):
    add_contacts(database, [{"number": "+447700900001"}], clock.now(), group="vip")
    admin = make_key("send,read,admin")
    template = call(client, "POST", "/templates", admin, {"name": "promo", "body": "Promo today"}).json
    made = call(client, "POST", "/campaigns", admin, {"name": "p", "template": "promo", "audience": {"groups": ["vip"]}}).json
    assert call(client, "DELETE", f"/templates/{template['id']}", admin).status_code == 204
    got = call(client, "GET", f"/campaigns/{made['id']}", admin).json
    assert [(v["text"], v["template_id"]) for v in got["variants"]] == [("Promo today", None)]
