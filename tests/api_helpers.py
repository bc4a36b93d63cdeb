"""REST API calls for the tests: a request under /api/v1 with an API key's headers, the messages
stored, the answers' media type for a problem."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.outbound.models import Message

TO = "+447700900123"
PROBLEM = "application/problem+json"


def post(client, path, body, key, **headers):
    return client.post(f"/api/v1{path}", json=body, headers={**key.headers, **headers})


def get(client, path, key):
    return client.get(f"/api/v1{path}", headers=key.headers)


def count_messages(queue) -> int:
    with queue.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message))
