"""REST API through Flask's test client, on a real SQLite file (or the suite's PostgreSQL): an
Idempotency-Key gives the first answer again, also across a restart, until it expires.
"""

from __future__ import annotations

from gateway.apikeys import keys
from gateway.consent.optin import Audience
from gateway.core.config import Config
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.webhooks.outbox import Webhooks
from web import create_app
from web.context import WebContext

from .api_helpers import TO, count_messages, post
from .daemon_helpers import database_url


# ---- idempotency ------------------------------------------------------------------------------
def test_idempotency_key_returns_the_first_response(client, make_key, queue):
    key = make_key()
    body = {"to": TO, "text": "order 42 confirmed"}
    first = post(client, "/messages", body, key, **{"Idempotency-Key": "order-42"})
    again = post(client, "/messages", body, key, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert count_messages(queue) == 1
    other = post(client, "/messages", body, key, **{"Idempotency-Key": "order-43"})
    assert other.json["id"] != first.json["id"]
    # another key's Idempotency-Key space is its own
    assert post(client, "/messages", body, make_key(), **{"Idempotency-Key": "order-42"}).json["id"] != first.json["id"]


def test_idempotency_key_with_a_different_body_is_refused(client, make_key, queue):
    key = make_key()
    post(client, "/messages", {"to": TO, "text": "a"}, key, **{"Idempotency-Key": "k1"})
    response = post(client, "/messages", {"to": TO, "text": "b"}, key, **{"Idempotency-Key": "k1"})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "Idempotency-Key"
    assert count_messages(queue) == 1


def test_idempotency_survives_a_restart(tmp_path, clock):
    url = database_url(tmp_path)

    def boot():
        engine = db.make_engine(url)
        db.upgrade(engine)
        sessions = db.sessions(engine)
        queue = Queue(sessions, clock)
        context = WebContext(queue=queue, sessions=sessions, clock=clock, config=Config(),
                             webhooks=Webhooks(sessions, clock), audience=Audience(sessions, clock, queue))
        return engine, queue, create_app(context).test_client()

    engine, queue, client = boot()
    new = keys.create(queue.sessions, clock, "pos", "send")
    headers = {"Authorization": f"Bearer {new.token}", "Idempotency-Key": "booking-7"}
    first = client.post("/api/v1/messages", json={"to": TO, "text": "See you at 10"}, headers=headers)
    engine.dispose()

    engine, queue, client = boot()
    again = client.post("/api/v1/messages", json={"to": TO, "text": "See you at 10"}, headers=headers)
    assert again.status_code == 202 and again.json == first.json
    assert count_messages(queue) == 1
    engine.dispose()


def test_idempotency_key_expires_after_a_day(client, make_key, queue, clock):
    key = make_key()
    body = {"to": TO, "text": "hi"}
    first = post(client, "/messages", body, key, **{"Idempotency-Key": "k"}).json["id"]
    clock.advance(86400 + 1)
    assert post(client, "/messages", body, key, **{"Idempotency-Key": "k"}).json["id"] != first


def test_bad_request_is_not_stored_under_the_idempotency_key_as_a_success(client, make_key, queue):
    """Sent again with its key, a refused request is refused again (never answered as if queued),
    and the key stays bound to that request: a different body under it is refused, not sent."""
    key = make_key()
    body = {"to": "12", "text": "hi"}
    bad = post(client, "/messages", body, key, **{"Idempotency-Key": "x"})
    assert bad.status_code == 422
    again = post(client, "/messages", body, key, **{"Idempotency-Key": "x"})
    assert again.status_code == 422 and again.json == bad.json
    other = post(client, "/messages", {"to": TO, "text": "hi"}, key, **{"Idempotency-Key": "x"})
    assert other.status_code == 422 and "different request" in other.json["detail"]
    assert count_messages(queue) == 0
    fresh = post(client, "/messages", {"to": TO, "text": "hi"}, key, **{"Idempotency-Key": "y"})
    assert fresh.status_code == 202 and count_messages(queue) == 1
