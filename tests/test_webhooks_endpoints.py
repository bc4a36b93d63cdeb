"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks signatures with only the recipe in
docs/api.md. Backoff runs on the FakeClock: no sleeps.

Here: receivers follow their endpoint's current state: a hanging one holds up no other, a rotated
secret and the old one both sign for the grace period, a revoked key's callbacks stop, a
deactivated endpoint's retries stop, retries go to its new URL, nothing replayed beside itself or
after it was cancelled, a report that never comes told once more.
"""

from __future__ import annotations

from gateway.outbound.models import MessageStatus
from web.api.validation import parse_time

from .modem_helpers import wait_until
from .webhook_helpers import TO, register
from .webhook_helpers import receivers, scheduler  # noqa: F401  (fixtures)


# ---- receivers follow their current state --------------------------------------------------------
def test_one_hanging_endpoint_does_not_hold_up_the_others(database, clock, receivers, scheduler):
    import socket

    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    hanging = socket.socket()  # accepts connections (the kernel does) and never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)
    hooks = Webhooks(db.sessions(database), clock, timeout=20.0, cache_seconds=0.0, allowed_hosts=["127.0.0.1"])
    try:
        hooks.create_endpoint(f"http://127.0.0.1:{hanging.getsockname()[1]}/hook", ["contact.opted_out"])
        healthy = receivers()
        healthy.secret = hooks.create_endpoint(healthy.url, ["contact.opted_out"])["secret"]
        for n in range(3):
            hooks.emit("contact.opted_out", {"number": TO, "n": n})
        hooks.start(scheduler)
        assert healthy.wait_for(3, timeout=10), "the healthy endpoint waited for the hanging one"
        assert [e["data"]["n"] for e in healthy.received] == [0, 1, 2]
    finally:
        hanging.close()  # the hanging attempt now fails at once
        hooks.stop()


def test_a_rotated_secret_and_the_old_one_both_sign_until_the_grace_period_ends(client, make_key, webhooks,
                                                                                clock, receivers):
    admin = make_key("admin")
    receiver = receivers()
    endpoint = register(client, admin, receiver.url, ["contact.opted_out"])
    old_secret = receiver.secret = endpoint["secret"]
    rotated = client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", json={"grace_seconds": 3600},
                          headers=admin.headers)
    assert rotated.status_code == 200, rotated.json
    new_secret = rotated.json["secret"]
    assert new_secret != old_secret and rotated.json["previous_secret_valid_until"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()  # the receiver still has the old secret: accepted
    assert len(receiver.received) == 1 and len(receiver.signatures) == 2
    receiver.secret = new_secret  # it switches whenever it likes
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 2
    clock.advance(3601)  # grace over: only the new secret signs
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 3 and len(receiver.signatures) == 1
    receiver.secret = old_secret
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    assert len(receiver.received) == 3 and receiver.bad_signatures == 1
    none = client.post("/api/v1/webhooks/999/rotate-secret", json={}, headers=admin.headers)
    assert none.status_code == 404


def test_callbacks_of_a_revoked_key_stop(client, make_key, queue, webhooks, receivers):
    admin, till = make_key("admin"), make_key("send,read")
    receiver = receivers(secret=till.signing_secret)
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "hi", "callback_url": receiver.url},
                             headers=till.headers).json["id"]
    claimed = queue.claim("sim1")  # "sending" is stored for the callback
    assert client.delete(f"/api/v1/keys/{till.id}", headers=admin.headers).status_code == 200
    for part_id in claimed.part_ids.values():
        queue.part_submitting(part_id, "sim1")
        queue.part_sent(part_id, 7)
    queue.finish(message_id, MessageStatus.SENT)
    webhooks.run_once()
    assert receiver.received == []
    [delivery] = webhooks.deliveries(message_id=message_id)  # only the one stored before the revocation
    assert delivery["status"] == "cancelled" and "revoked" in delivery["last_error"]
    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers)
    assert replay.status_code == 409


def test_deactivating_an_endpoint_stops_its_queued_retries(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=1)
    endpoint = register(client, admin, receiver.url, ["contact.opted_out"])
    receiver.secret = endpoint["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    assert webhooks.run_once() == 1 and receiver.received == []  # failed once: a retry is queued
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": False}, headers=admin.headers)
    clock.advance(3600)
    assert webhooks.run_once() == 0 and receiver.received == []
    [delivery] = webhooks.deliveries()
    assert delivery["status"] == "cancelled" and delivery["last_error"] == "endpoint deactivated"
    replay = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers)
    assert replay.status_code == 409 and "deactivated" in replay.json["detail"]
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": True}, headers=admin.headers)
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=admin.headers).status_code == 202
    assert webhooks.run_once() == 1 and len(receiver.received) == 1


def test_queued_retries_go_to_the_endpoints_new_url(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    old, new = receivers(fail=100), receivers()
    endpoint = register(client, admin, old.url, ["contact.opted_out"])
    old.secret = new.secret = endpoint["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"url": new.url}, headers=admin.headers)
    clock.advance(10)
    assert webhooks.run_once() == 1
    assert len(new.received) == 1 and old.fail == 99  # the old URL was tried once, before the change
    delivery = webhooks.delivery(webhooks.deliveries()[0]["id"])
    assert delivery["url"] == new.url and [a["http_status"] for a in delivery["attempt_log"]] == [500, 200]


def test_a_live_delivery_is_not_replayed_beside_itself(client, make_key, webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers(fail=1)
    receiver.secret = register(client, admin, receiver.url, ["contact.opted_out"])["secret"]
    webhooks.emit("contact.opted_out", {"number": TO})
    webhooks.run_once()
    [retrying] = webhooks.deliveries()
    refused = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert refused.status_code == 409 and "still pending" in refused.json["detail"]
    clock.advance(10)
    webhooks.run_once()
    assert len(receiver.received) == 1
    first = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert first.status_code == 202
    again = client.post(f"/api/v1/webhooks/deliveries/{retrying['id']}/replay", headers=admin.headers)
    assert again.status_code == 409  # the first replay is still on its way
    assert webhooks.run_once() == 1 and len(receiver.received) == 2


def test_a_delivery_cancelled_while_its_attempt_is_out_stays_cancelled(database, clock, receivers):
    """The attempt's result is written only while the delivery is still pending under this attempt's
    lease: deleting its endpoint meanwhile cancels it, and the failed answer that comes back after
    neither fails it nor schedules a retry."""
    import threading

    from gateway.core.retry import RetryPolicy
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    hooks = Webhooks(db.sessions(database), clock, timeout=30.0, retry=RetryPolicy(max_attempts=1), cache_seconds=0.0,
                     allowed_hosts=["127.0.0.1"])
    try:
        receiver = receivers(fail=1)
        endpoint = hooks.create_endpoint(receiver.url, ["contact.opted_out"])
        hooks.emit("contact.opted_out", {"number": TO})
        [pending] = hooks.deliveries()
        with receiver.got:  # the receiver cannot answer until the endpoint is deleted
            attempt = threading.Thread(target=hooks.run_once)
            attempt.start()
            wait_until(lambda: parse_time(hooks.delivery(pending["id"])["next_attempt_at"]) > clock.now(),
                       what="the attempt's lease")
            assert hooks.delete_endpoint(endpoint["id"])
        attempt.join(30)
        assert receiver.hits == 1
        delivery = hooks.delivery(pending["id"])
        assert delivery["status"] == "cancelled" and delivery["last_error"] == "endpoint deleted"
        assert [a["http_status"] for a in delivery["attempt_log"]] == [500]  # the attempt is still logged
    finally:
        hooks.stop()


def test_a_sent_message_whose_report_never_comes_is_told_once_more_with_report_none(client, make_key, queue,
                                                                                     webhooks, clock, receivers):
    admin = make_key("admin")
    receiver = receivers()
    receiver.secret = register(client, admin, receiver.url, ["message.status"])["secret"]
    message_id = client.post("/api/v1/messages", json={"to": TO, "text": "your order is ready"},
                             headers=admin.headers).json["id"]
    claimed = queue.claim("sim1")
    assert claimed is not None and claimed.id == message_id
    assert queue.part_submitting(claimed.part_ids[1], "sim1") is None
    queue.part_sent(claimed.part_ids[1], 9, last=True)
    assert webhooks.run_once() == 3  # queued, sending, sent
    clock.advance(queue.report_wait.total_seconds())
    assert queue.record_no_reports() == 1
    assert webhooks.run_once() == 1
    last = receiver.received[-1]["data"]
    assert (last["id"], last["status"], last["report"]) == (message_id, "sent", "none")
    assert "report" not in receiver.received[0]["data"]  # the other events are as they were
    assert queue.record_no_reports() == 0 and webhooks.run_once() == 0  # once
    assert receiver.bad_signatures == 0
