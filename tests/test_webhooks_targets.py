"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md. Backoff runs on the FakeClock: no sleeps.

Here: where deliveries may go ([webhooks] allowed_hosts): loopback and link-local refused at
connect time and by the API unless listed, no redirect to a host not allowed, a failing receiver's
body kept only as a short clean excerpt.
"""

from __future__ import annotations

import pytest

from .webhook_helpers import TO
from .webhook_helpers import receivers  # noqa: F401  (fixtures)


# ---- where deliveries may go ([webhooks] allowed_hosts) ------------------------------------------
def strict_webhooks(database, clock, allowed_hosts=()):
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    return Webhooks(db.sessions(database), clock, timeout=2.0, cache_seconds=0.0, allowed_hosts=allowed_hosts)


def test_loopback_receivers_are_refused_at_connect_time_also_through_a_name(database, clock, receivers):
    server = receivers(check_signature=False)
    hooks = strict_webhooks(database, clock)  # no allowed_hosts: loopback is off limits
    hooks.create_endpoint(f"http://127.0.0.1:{server.port}/hook", ["contact.opted_out"])
    hooks.create_endpoint(f"http://localhost:{server.port}/hook", ["contact.opted_out"])
    hooks.emit("contact.opted_out", {"number": TO})
    assert hooks.run_once() == 2
    assert server.hits == 0
    for delivery in hooks.deliveries():
        assert delivery["status"] == "pending" and "loopback or link-local" in delivery["last_error"]
    # listed, the same receiver is reached: by the address, and by a name that resolves to it
    allowed = strict_webhooks(database, clock, allowed_hosts=["127.0.0.1"])
    clock.advance(60)
    assert allowed.run_once() == 2
    assert server.hits == 2
    assert {d["status"] for d in allowed.deliveries()} == {"delivered"}


def test_a_redirect_is_not_followed_to_a_host_that_is_not_allowed(database, clock, receivers):
    inner = receivers(host="127.0.0.2", check_signature=False)  # loopback too, but not listed
    outer = receivers(check_signature=False, status=307, headers={"Location": f"http://127.0.0.2:{inner.port}/admin"})
    hooks = strict_webhooks(database, clock, allowed_hosts=["127.0.0.1"])
    hooks.create_endpoint(f"http://127.0.0.1:{outer.port}/hook", ["contact.opted_out"])
    hooks.emit("contact.opted_out", {"number": TO})
    assert hooks.run_once() == 1
    assert (outer.hits, inner.hits) == (1, 0)
    assert hooks.deliveries()[0]["last_error"].startswith("HTTP 307")


def test_only_a_short_clean_excerpt_of_a_failing_receivers_body_is_kept(webhooks, receivers):
    page = b"\x1b[2J<html>\r\n  <title>Internal\tadmin</title>\x00" + b"A" * 20_000 + b"\nroot:x:0:0"
    server = receivers(check_signature=False, status=500, body=page)
    webhooks.create_endpoint(f"http://127.0.0.1:{server.port}/hook", ["contact.opted_out"])
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    delivery = webhooks.delivery(webhooks.deliveries()[0]["id"])
    for text in (delivery["last_error"], delivery["attempt_log"][0]["error"]):
        assert text.startswith("HTTP 500: ") and "<html> <title>Internal admin</title> AAA" in text
        assert len(text) <= 140 and text.isprintable() and "root:" not in text


def test_the_api_refuses_loopback_and_link_local_urls_unless_listed_and_takes_lan_ones(web_context, database,
                                                                                       clock, make_key):
    import dataclasses

    from web import create_app

    strict = dataclasses.replace(web_context, webhooks=strict_webhooks(database, clock, allowed_hosts=["pos.local"]))
    client = create_app(strict, {"TESTING": True}).test_client()
    admin = make_key("admin")
    for url in ("http://127.0.0.1:8080/admin", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                "http://[fe80::1]/x", "http://localhost/x", "http://0.0.0.0:22/", "http://[::ffff:127.0.0.1]/"):
        answer = client.post("/api/v1/webhooks", json={"url": url, "events": ["message.status"]}, headers=admin.headers)
        assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "url", url
        sent = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": url}, headers=admin.headers)
        assert sent.status_code == 422 and sent.json["errors"][0]["field"] == "callback_url", url
    for url in ("http://192.168.1.20/pos", "http://10.0.0.5:8000/hook", "https://pos.local/gsmgw"):
        answer = client.post("/api/v1/webhooks", json={"url": url, "events": ["message.status"]}, headers=admin.headers)
        assert answer.status_code == 201, (url, answer.json)


def test_target_policy_rules():
    from ipaddress import ip_address

    from gateway.webhooks.targets import TargetPolicy

    none = TargetPolicy.of([])
    for address in ("127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"):
        assert none.refusal_of_address("h", ip_address(address)), address
    for address in ("192.168.1.20", "10.1.2.3", "172.16.0.1", "8.8.8.8", "fd00::2"):
        assert none.refusal_of_address("h", ip_address(address)) is None, address
    listed = TargetPolicy.of(["127.0.0.0/8", "metadata.lan", "[::1]"])
    assert listed.refusal_of_address("x", ip_address("127.0.0.5")) is None
    assert listed.refusal_of_address("x", ip_address("::1")) is None
    assert listed.refusal_of_address("Metadata.LAN.", ip_address("169.254.169.254")) is None
    assert listed.refusal_of_address("x", ip_address("169.254.169.254"))
    with pytest.raises(ValueError):
        TargetPolicy.of(["http://x/"])
