"""Tables of the REST API and webhooks: API keys, idempotency records, webhook endpoints, the
webhook outbox with its attempt log, and per-message callback URLs.

Kept apart from gateway.models (the send engine's tables) but on the same `Base`, so one metadata
and one migration history cover both. Portable SQL only (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base, UtcDateTime


class ApiKey(Base):
    """A bearer key for LAN apps. Only a SHA-256 of the token is kept (see gateway.apikeys)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # "gsk_ab12cd34", for people to tell keys apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))  # comma-separated: send,read,admin
    signing_secret: Mapped[str] = mapped_column(String(80))  # signs this key's per-message callbacks
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IdempotencyRecord(Base):
    """The first response to a POST carrying an Idempotency-Key; a retry gets it back."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and canonical body
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first request runs
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (UniqueConstraint("api_key_id", "key"),)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(80))  # HMAC key: must be kept in clear to sign
    # after a rotation the old secret signs too, until then, so receivers can switch without a gap
    previous_secret: Mapped[str | None] = mapped_column(String(80))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    events: Mapped[str] = mapped_column(String(200))  # comma-separated event types
    description: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """The outbox: one event for one receiver (an endpoint, or a message's callback_url)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)  # the same for every receiver of one event
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(Integer)
    replay_of: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    """Every try to deliver, with what the receiver said (or why it could not be reached)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class MessageCallback(Base):
    """A message's own callback_url, and the secret of the API key that asked for it."""

    __tablename__ = "message_callbacks"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
