"""An admin's "send test" (Webhooks.send_test): one signed `webhook.test` event to one endpoint,
delivered and logged like any other, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import pytest

from gateway.webhooks.endpoints import TEST_EVENT, ReplayRefused

from .webhook_helpers import Receiver


@pytest.fixture
def receiver():
    made = Receiver(secret="s" * 32)
    yield made
    made.close()


def test_a_test_event_goes_to_that_endpoint_alone_signed_and_logged(webhooks, receiver):
    other = Receiver(secret="t" * 32)
    try:
        endpoint = webhooks.create_endpoint(receiver.url, ["message.received"], secret="s" * 32)
        webhooks.create_endpoint(other.url, ["message.status"], secret="t" * 32)
        delivery = webhooks.send_test(endpoint["id"])
        assert (delivery["event_type"], delivery["endpoint_id"], delivery["status"]) == (TEST_EVENT, endpoint["id"], "pending")
        webhooks.run_once()
        assert receiver.wait_for(1)
        assert receiver.received[0]["type"] == TEST_EVENT and receiver.bad_signatures == 0
        assert receiver.received[0]["data"]["endpoint_id"] == endpoint["id"]
        logged = webhooks.delivery(delivery["id"])
        assert logged["status"] == "delivered" and logged["attempt_log"][0]["http_status"] == 200
        assert other.hits == 0
    finally:
        other.close()


def test_no_test_for_a_deleted_or_deactivated_endpoint(webhooks, receiver):
    endpoint = webhooks.create_endpoint(receiver.url, ["message.received"])
    webhooks.update_endpoint(endpoint["id"], {"active": False})
    with pytest.raises(ReplayRefused):
        webhooks.send_test(endpoint["id"])
    webhooks.delete_endpoint(endpoint["id"])
    assert webhooks.send_test(endpoint["id"]) is None
    assert webhooks.send_test(999) is None
    assert webhooks.deliveries() == []
