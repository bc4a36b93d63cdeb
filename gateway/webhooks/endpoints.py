"""Webhook endpoints and the delivery log as the API manages them: create, change, rotate a secret,
delete, list deliveries with their attempts, replay one; and where a delivery goes now.

`EndpointAdmin` is the part of `gateway.webhooks.outbox.Webhooks` that does this; the outbox itself
stores events and delivers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.apikeys.models import ApiKey
from gateway.core.clock import Clock
from gateway.webhooks.models import DeliveryStatus, MessageCallback, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.signing import new_secret


TEST_EVENT = "webhook.test"  # sent by an admin's "send test", to one endpoint only


class ReplayRefused(Exception):
    """A replay that would send an event twice at once, or to a receiver that no longer takes it."""


class EndpointAdmin:
    """Endpoints and deliveries, for the API; the outbox that inherits it supplies these."""

    sessions: sessionmaker[Session]
    clock: Clock
    wake: Any  # outbox.Wake: .set() wakes the dispatcher

    def _forget_endpoints(self) -> None:
        raise NotImplementedError  # the outbox caches the active endpoints

    def _store(self, conn: Any, event_type: str, data: dict[str, Any],
               targets: list[tuple[int | None, str, str]], message_id: int | None) -> str:
        raise NotImplementedError  # the outbox stores an event's deliveries

    # ---- endpoints --------------------------------------------------------------------------
    def create_endpoint(self, url: str, events: Iterable[str], *, secret: str | None = None,
                        description: str | None = None, active: bool = True) -> dict[str, Any]:
        """A new endpoint; the returned dict holds its secret (shown at creation only)."""
        row = WebhookEndpoint(url=url, secret=secret or new_secret(), events=",".join(sorted(set(events))),
                              description=description, active=active, created_at=self.clock.now())
        with self.sessions.begin() as session:
            session.add(row)
        self._forget_endpoints()
        return {**endpoint_dict(row), "secret": row.secret}

    def list_endpoints(self) -> list[dict[str, Any]]:
        with self.sessions() as session:
            rows = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))
                                   .order_by(WebhookEndpoint.id)).all()
            return [endpoint_dict(r) for r in rows]

    def get_endpoint(self, endpoint_id: int) -> dict[str, Any] | None:
        with self.sessions() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            return endpoint_dict(row) if row is not None and row.deleted_at is None else None

    def update_endpoint(self, endpoint_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change an endpoint. Its pending deliveries follow: a new URL is where they go next, and
        deactivating it cancels them (they can be replayed once it is active again)."""
        with self.sessions.begin() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            if row is None or row.deleted_at is not None:
                return None
            for key in ("url", "description", "active"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "events" in changes:
                row.events = ",".join(sorted(set(changes["events"])))
            if changes.get("active") is False:
                self._cancel_pending(session, endpoint_id, "endpoint deactivated")
            result = endpoint_dict(row)
        self._forget_endpoints()
        return result

    def rotate_secret(self, endpoint_id: int, *, grace: timedelta, secret: str | None = None) -> dict[str, Any] | None:
        """A new secret for an endpoint; the one it replaces still signs too (a second signature)
        until `grace` has passed, so the receiver can switch without refusing a delivery. The
        returned dict holds the new secret (shown here only)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            if row is None or row.deleted_at is not None:
                return None
            row.previous_secret = row.secret if grace > timedelta(0) else None
            row.previous_secret_until = now + grace if grace > timedelta(0) else None
            row.secret = secret or new_secret()
            result = {**endpoint_dict(row), "secret": row.secret}
        self._forget_endpoints()
        return result

    @staticmethod
    def _cancel_pending(session: Session, endpoint_id: int, reason: str) -> None:
        session.execute(update(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, last_error=reason))

    def delete_endpoint(self, endpoint_id: int) -> bool:
        """Deleted endpoints stay for the record (their delivery log too); pending deliveries stop."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            if row is None or row.deleted_at is not None:
                return False
            row.deleted_at, row.active = now, False
            self._cancel_pending(session, endpoint_id, "endpoint deleted")
        self._forget_endpoints()
        return True

    def send_test(self, endpoint_id: int) -> dict[str, Any] | None:
        """A `webhook.test` event for this endpoint alone (whatever events it takes), delivered,
        signed and logged like any other, so an admin sees the receiver answer; None if there is no
        such endpoint. ReplayRefused for a deactivated one (it takes nothing)."""
        with self.sessions.begin() as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            if row is None or row.deleted_at is not None:
                return None
            if not row.active:
                raise ReplayRefused("not sent: endpoint deactivated")
            now = self.clock.now()
            self._store(session.connection(), TEST_EVENT, {"endpoint_id": row.id, "at": iso(now)},
                        [(row.id, row.url, row.secret)], None)
            new = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                  .order_by(WebhookDelivery.id.desc()).limit(1)).one()
            result = delivery_dict(new)
        self.wake.set()
        return result

    # ---- outbox -----------------------------------------------------------------------------
    def deliveries(self, *, endpoint_id: int | None = None, status: str | None = None,
                   message_id: int | None = None, before: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if message_id is not None:
            query = query.where(WebhookDelivery.message_id == message_id)
        if before is not None:
            query = query.where(WebhookDelivery.id < before)
        with self.sessions() as session:
            return [delivery_dict(r) for r in session.scalars(query).all()]

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        with self.sessions() as session:
            row = session.get(WebhookDelivery, delivery_id)
            if row is None:
                return None
            attempts = session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                       .order_by(WebhookAttempt.id)).all()
            return {**delivery_dict(row), "payload": json.loads(row.payload),
                    "attempt_log": [attempt_dict(a) for a in attempts]}

    def replay(self, delivery_id: int) -> dict[str, Any] | None:
        """Send a delivery's event again, as a new delivery to its receiver's current URL; None if
        there is no such delivery. ReplayRefused while the event is still on its way to that
        receiver (the delivery, or an earlier replay, is pending), or when the receiver no longer
        takes it (endpoint deleted or inactive, callback of a revoked key)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            old = session.get(WebhookDelivery, delivery_id)
            if old is None:
                return None
            live = session.scalar(select(WebhookDelivery.id).where(
                WebhookDelivery.event_id == old.event_id, WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.endpoint_id == old.endpoint_id if old.endpoint_id is not None
                else WebhookDelivery.endpoint_id.is_(None) & (WebhookDelivery.url == old.url)).limit(1))
            if live is not None:
                raise ReplayRefused(f"delivery {live} of this event to this receiver is still pending "
                                    "(retried with backoff): wait for it to be delivered or fail")
            target = target_of(session, old, now)
            if isinstance(target, str):
                raise ReplayRefused(f"not replayed: {target}")
            url, secrets_ = target
            new = WebhookDelivery(event_id=old.event_id, event_type=old.event_type, payload=old.payload,
                                  endpoint_id=old.endpoint_id, url=url, secret=secrets_[0],
                                  status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
                                  message_id=old.message_id, replay_of=old.id, created_at=now)
            session.add(new)
            session.flush()
            result = delivery_dict(new)
        self.wake.set()
        return result


def target_of(session: Session, row: WebhookDelivery, now: datetime) -> tuple[str, list[str]] | str:
    """Where a delivery goes and the secrets that sign it (current first), as its receiver is now;
    or why it must not go at all."""
    if row.endpoint_id is not None:
        endpoint = session.get(WebhookEndpoint, row.endpoint_id)
        if endpoint is None or endpoint.deleted_at is not None:
            return "endpoint deleted"
        if not endpoint.active:
            return "endpoint deactivated"
        secrets_ = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
            secrets_.append(endpoint.previous_secret)
        return endpoint.url, secrets_
    if row.message_id is not None:
        revoked = session.scalar(select(ApiKey.revoked_at).join(MessageCallback, MessageCallback.api_key_id == ApiKey.id)
                                 .where(MessageCallback.message_id == row.message_id))
        if revoked is not None:
            return "the API key that asked for this callback was revoked"
    return row.url, [row.secret]


def endpoint_dict(row: WebhookEndpoint) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": row.events.split(",") if row.events else [],
            "description": row.description, "active": row.active, "created_at": iso(row.created_at),
            "previous_secret_valid_until": iso(row.previous_secret_until) if row.previous_secret else None}


def delivery_dict(row: WebhookDelivery) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "event_type": row.event_type,
            "endpoint_id": row.endpoint_id, "url": row.url, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": iso(row.next_attempt_at) if row.status == DeliveryStatus.PENDING else None,
            "last_error": row.last_error, "message_id": row.message_id, "replay_of": row.replay_of,
            "created_at": iso(row.created_at), "delivered_at": iso(row.delivered_at)}


def attempt_dict(row: WebhookAttempt) -> dict[str, Any]:
    return {"at": iso(row.at), "http_status": row.http_status, "error": row.error, "duration_ms": row.duration_ms}


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
