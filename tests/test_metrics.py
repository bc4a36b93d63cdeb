"""/metrics from the real daemon: counters move as messages are sent, delivered, suppressed and
received; build and process metrics are there; a key is needed unless `[web] metrics_public`."""

from __future__ import annotations

import urllib.error
import urllib.request

from gateway.apikeys import keys

from .modem_helpers import wait_until

TO = "+447700900123"
NO_GAP = {"min_gap_s": 0}  # the clock stands still: the next message may go at once


def scrape(daemon, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(daemon.api_url() + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sample(text: str, name: str) -> float | None:
    """The value of the sample `name` (with its labels, as exposed), None if absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_counters_move_as_messages_are_sent_delivered_suppressed_and_received(daemon_factory):
    daemon = daemon_factory(1, web={"metrics_public": True}, modems=[{"name": "limits", "port": "unused", "limits": NO_GAP}])
    _, before = scrape(daemon)
    assert sample(before, 'gsmgw_messages_sent_total{sim="sim1"}') is None
    assert sample(before, 'gsmgw_queue_messages{status="queued"}') == 0

    receipt = daemon.queue.enqueue(TO, "your receipt")
    promo = daemon.queue.enqueue(TO, "50% off", kind="marketing")  # no consent: suppressed
    wait_until(lambda: daemon.queue.get(receipt.id).status == "delivered", 15, "the delivery")
    wait_until(lambda: daemon.queue.get(promo.id).status == "suppressed", 15, "the suppression")
    daemon.simulator.ports["sim1"].modem.inject_sms("+447700900555", "hello shop")
    counted = ('gsmgw_messages_sent_total{sim="sim1"}', 'gsmgw_messages_delivered_total{sim="sim1"}',
               'gsmgw_messages_ended_total{status="suppressed"}', 'gsmgw_messages_received_total{sim="sim1"}')

    def each_counted_once() -> str | None:
        """The scrape, once every counter has moved: each is counted by a hook after its change
        commits, a moment after the stored status says so."""
        status, text = scrape(daemon)  # no key: metrics_public
        assert status == 200
        return text if all(sample(text, name) == 1 for name in counted) else None

    text = wait_until(each_counted_once, 15, "the sent, delivered, suppressed and received messages counted")
    assert sample(text, 'gsmgw_messages_failed_total{sim="sim1"}') is None
    assert sample(text, 'gsmgw_queue_messages{status="queued"}') == 0
    assert any(line.startswith("gsmgw_build_info{") and line.endswith(" 1.0") for line in text.splitlines())
    assert sample(text, "process_resident_memory_bytes") > 0
    assert sample(text, 'gsmgw_modem_up{sim="sim1",state="ready"}') == 1


def test_a_key_is_needed_unless_metrics_are_public(daemon_factory, clock):
    daemon = daemon_factory(1)
    assert scrape(daemon)[0] == 401
    token = keys.create(daemon.queue.sessions, clock, "prometheus", "read").token
    status, text = scrape(daemon, token)
    assert status == 200 and "# TYPE gsmgw_messages_sent_total counter" in text
