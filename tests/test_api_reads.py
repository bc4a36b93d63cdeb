"""REST API through Flask's test client, on a real SQLite file (or the suite's PostgreSQL): what it
tells of the gateway: a text's segments, the modems, inbound messages, Prometheus metrics.
"""

from __future__ import annotations

import json

from gateway.apikeys import keys

from .api_helpers import TO, get, post
from .modem_helpers import wait_until


# ---- the rest ---------------------------------------------------------------------------------
def test_segments(client, make_key):
    key = make_key("read")
    response = post(client, "/segments", {"text": "a" * 161}, key)
    assert response.json == {"encoding": "gsm7", "parts": 2, "characters": 161, "units": 161, "per_part": 153,
                             "characters_left": 145, "sendable": True}
    assert post(client, "/segments", {"text": "€"}, key).json["units"] == 2  # the euro sign is an escape
    assert post(client, "/segments", {"text": "ü😀"}, key).json["encoding"] == "ucs2"
    assert post(client, "/segments", {}, key).status_code == 422


def test_modems_list_and_one(daemon_factory, clock):
    """/modems over HTTP from the running daemon: each modem's state, network, identity and the use
    of its send limits, counted from what it really sent."""
    import urllib.error
    import urllib.request

    daemon = daemon_factory(1, modems=[{"name": "limits", "port": "unused", "limits": {"per_minute": 6}}])
    new = keys.create(daemon.queue.sessions, clock, "t", "read")
    message = daemon.queue.enqueue(TO, "counted")
    wait_until(lambda: daemon.queue.get(message.id).status in ("sent", "delivered"), 10, "the message sent")

    def fetch(path: str) -> tuple[int, dict]:
        request = urllib.request.Request(daemon.api_url() + path, headers={"Authorization": f"Bearer {new.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, listing = fetch("/modems")
    assert status == 200
    (modem,) = listing["items"]
    supervisor = daemon.supervisors[0]
    assert (modem["name"], modem["state"], modem["reason"]) == ("sim1", "ready", None)
    assert modem["operator"] == "Virtual Tel" and modem["registration"] == "home"
    assert modem["signal"]["csq"] == supervisor.health.signal.csq and 0 <= modem["signal"]["bars"] <= 5
    assert modem["identity"]["imei"] == daemon.simulator.ports["sim1"].modem.imei
    assert modem["identity"]["iccid"] == supervisor.identity.iccid
    assert modem["limits"]["minute"] == {"used": 1, "left": 5, "cap": 6}
    assert fetch("/modems/sim1") == (200, modem)
    assert fetch("/modems/sim9")[0] == 404


def test_inbound_list_and_one(client, make_key, web_context, clock):
    from gateway.inbound.models import InboundPart

    def receive(text: str, concat=(None, None, None)) -> None:
        ref, total, seq = concat
        with web_context.sessions.begin() as session:
            part = InboundPart(modem="sim1", sender=TO, text=text, received_at=clock.now(), raw_pdu="00",
                               concat_ref=ref, concat_total=total, concat_seq=seq)
            session.add(part)
        web_context.inbound(part)

    receive("reply 0")
    receive("reply 1, in two ", (9, 2, 1))
    receive("parts", (9, 2, 2))
    receive("reply 2")
    key = make_key("read")
    page = get(client, "/inbound?limit=2", key).json
    assert [p["text"] for p in page["items"]] == ["reply 2", "reply 1, in two parts"] and page["next_cursor"]
    assert page["items"][1]["parts"] == 2 and page["items"][1]["complete"] is True
    rest = get(client, f"/inbound?limit=2&cursor={page['next_cursor']}", key).json
    assert [p["text"] for p in rest["items"]] == ["reply 0"] and rest["next_cursor"] is None
    one = get(client, f"/inbound/{page['items'][0]['id']}", key).json
    assert one["from"] == TO and one["sim"] == "sim1" and one["contact_id"] is not None
    assert get(client, "/inbound?from=07700900123", key).json["items"][0]["from"] == TO
    assert get(client, "/inbound/999", key).status_code == 404


def test_metrics_are_prometheus_text(client, make_key, queue, modem_list):
    modem_list.append({"name": "sim1", "state": "ready", "signal": {"bars": 3, "dbm": -85},
                       "limits": {"minute": {"used": 2, "left": 4, "cap": 6}}})
    queue.enqueue(TO, "hi")
    response = get(client, "/metrics", make_key("read"))
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in ('gsmgw_queue_messages{status="queued"} 1.0', 'gsmgw_modem_signal_dbm{sim="sim1"} -85.0',
                 'gsmgw_sim_limit_used{sim="sim1",window="minute"} 2.0', "gsmgw_webhook_deliveries_pending 0.0",
                 'gsmgw_modem_up{sim="sim1",state="ready"} 1.0', "gsmgw_api_auth_failures_total 0.0"):
        assert line in text.splitlines()
    assert client.get("/api/v1/metrics").status_code == 401
