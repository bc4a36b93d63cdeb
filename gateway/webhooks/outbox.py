"""Webhooks: events go to a persisted outbox first, a dispatcher delivers them with retries.

Events are stored in the transaction of the change they report, by hooks: `store_status` (a
message's status, a Queue status hook), `store_received` (an inbound SMS, an InboundPipeline hook)
and `store_consent` (contact.opted_out / contact.opted_in, an Audience hook), so a crash keeps the
change and its event or neither. Each event is one delivery row per receiver (each subscribed
endpoint, and the message's own callback_url); the dispatcher POSTs
the stored body, signed, and records every attempt. A receiver that fails is retried with
exponential backoff; after `max_attempts` the delivery is `failed` (kept, visible, replayable).
Receivers are independent: each is served by one sender thread at a time, so one that hangs delays
only its own deliveries. A delivery goes where its receiver is now (an endpoint's current URL and
secrets; none at all once it is deleted or inactive, or once the key of a callback is revoked).

Delivery is at least once: a receiver dedupes by the event id (the same for every receiver of one
event, and for a replay). Signature, as documented in docs/api.md:

    X-Gsmgw-Timestamp: <unix seconds>
    X-Gsmgw-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret>

and, for the grace period after a secret rotation, a second comma-separated `sha256=` value made with
the previous secret (the current one first).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.apikeys.models import ApiKey
from gateway.audience.models import Contact
from gateway.consent.models import ConsentEvent, ConsentKind
from gateway.core.clock import Clock
from gateway.inbound.models import InboundMessage
from gateway.outbound.models import Message, Priority
from gateway.store.db import Prepared, engine_of
from gateway.webhooks.models import MessageCallback, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.targets import TargetPolicy

# the message.status path's statements, built once (it runs on every status change)
_CALLBACK_OF = Prepared(select(MessageCallback.url, ApiKey.signing_secret)
                        .join(ApiKey, ApiKey.id == MessageCallback.api_key_id)
                        .where(MessageCallback.message_id == bindparam("message_id"), ApiKey.revoked_at.is_(None)))
_STATUS_DATA = Prepared(select(Message.id, Message.to_number, Message.kind, Message.priority, Message.segments,
                               Message.sim, Message.last_error, Message.updated_at)
                        .where(Message.id == bindparam("message_id")))
_ACTIVE_ENDPOINTS = Prepared(select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret,
                                     WebhookEndpoint.events)
                              .where(WebhookEndpoint.active.is_(True), WebhookEndpoint.deleted_at.is_(None)))
_NEW_DELIVERY = Prepared(insert(WebhookDelivery.__table__))
_NEW_CALLBACK = Prepared(insert(MessageCallback.__table__))

log = logging.getLogger("gsmgw.webhooks")

EVENTS = ("message.status", "message.received", "contact.opted_out", "contact.opted_in")
IDLE_POLL = 10.0  # seconds: events another process stored (`gsmgw send`, `gsmgw consent`) go out within it


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after max_attempts; can be replayed
    CANCELLED = "cancelled"  # its endpoint was deleted or deactivated, or its key revoked, before it went out
    ALL = (PENDING, DELIVERED, FAILED, CANCELLED)


class ReplayRefused(Exception):
    """A replay that would send an event twice at once, or to a receiver that no longer takes it."""


Receiver = tuple[str, int | str]  # ("endpoint", id) or ("callback", url): one at a time each


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """One signature of a body sent at `timestamp`: "sha256=<hex>"."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int | str, body: bytes) -> str:
    """The X-Gsmgw-Signature value: one "sha256=<hex>" per valid secret, the current one first,
    comma-separated (two during a rotation's grace period)."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets_)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook POST is not followed to another address: a redirect is a failed attempt (so a
    receiver cannot bounce the gateway to a loopback or link-local address)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RefusedTarget(OSError):
    """The receiver's host resolves only to addresses the target policy refuses."""


def _guarded(connection_class: type[http.client.HTTPConnection], policy: TargetPolicy) -> Callable[..., Any]:
    """A connection class for urllib whose socket goes only to an address the policy allows: the
    check is on the address actually connected to, after name resolution, not on the URL's text."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = connection_class(host, **kwargs)
        connection._create_connection = (  # type: ignore[attr-defined]
            lambda address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None:  # type: ignore[attr-defined]
            _connect(policy, address, timeout, source_address))
        return connection
    return make


def _connect(policy: TargetPolicy, address: tuple[str, int], timeout: Any, source_address: Any) -> socket.socket:
    host, port = address
    refusal: str | None = None
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        refusal_here = policy.refusal_of_address(host, ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        if refusal_here is not None:
            refusal = refusal_here
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    if last_error is not None:
        raise last_error
    raise RefusedTarget(refusal or f"{host} has no address")


class _GuardedHTTP(urllib.request.HTTPHandler):
    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__()
        self._connection = _guarded(http.client.HTTPConnection, policy)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req)


class _GuardedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__()
        self._connection = _guarded(http.client.HTTPSConnection, policy)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req, context=self._context)


class Webhooks:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, timeout: float = 5.0,
                 max_attempts: int = 16, first_delay: float = 10.0, max_delay: float = 3600.0,
                 batch: int = 20, cache_seconds: float = 5.0, allowed_hosts: Iterable[str] = (),
                 senders: int = 8) -> None:
        self.sessions = sessions
        self.policy = TargetPolicy.of(allowed_hosts)
        self.clock = clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.batch = batch
        self.cache_seconds = cache_seconds
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                                   _GuardedHTTP(self.policy), _GuardedHTTPS(self.policy))
        self._endpoints: list[tuple[int, str, str, frozenset[str]]] | None = None
        self._endpoints_at = 0.0
        self._lock = threading.Lock()
        # receivers are delivered to independently: each by one sender thread at a time, so one that
        # hangs until the timeout holds up only its own deliveries
        self._senders_wanted = senders
        self._senders: ThreadPoolExecutor | None = None  # made on first use: most processes only store
        self._busy: set[Receiver] = set()
        # messages known to have no callback_url: one is only ever stored with its message, so a
        # message that had none at its first status change never will (saves a read per change)
        self._no_callback = _RecentIds(4096)

    # ---- wiring -----------------------------------------------------------------------------
    def attach(self, queue: Any, *, inbound: Any = None, audience: Any = None) -> None:
        """Listen to a Queue's status changes (message.status), an InboundPipeline's stored messages
        (message.received: one event per SMS, however many parts it came in) and an Audience's
        ledger entries (contact.opted_out / contact.opted_in, from any source)."""
        if self.store_status not in queue.status_hooks:
            queue.status_hooks.append(self.store_status)
        if inbound is not None and self.store_received not in inbound.received_hooks:
            inbound.received_hooks.append(self.store_received)
        if audience is not None and self.store_consent not in audience.consent_hooks:
            audience.consent_hooks.append(self.store_consent)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(max_workers=self._senders_wanted, thread_name_prefix="webhook-send")
            return self._senders

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        with self._lock:
            senders, self._senders = self._senders, None
        if senders is not None:
            senders.shutdown(wait=True, cancel_futures=True)

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: 10, 20, 40 … capped at an hour."""
        return min(self.max_delay, self.first_delay * 2 ** max(0, attempts - 1))

    # ---- events in --------------------------------------------------------------------------
    def emit(self, event_type: str, data: dict[str, Any]) -> str | None:
        """Store an event for every subscribed endpoint in a transaction of its own; the event id,
        or None if nobody listens. Events that belong to a change are stored in the change's own
        transaction instead (`store_status`, `store_received`, `store_consent`)."""
        with engine_of(self.sessions).begin() as conn:
            event_id = self._new_event(conn, event_type, data)
        if event_id is not None:
            self.wake.set()
        return event_id

    def _store_new(self, conn: Connection, event_type: str, data: dict[str, Any]) -> Callable[[], None] | None:
        """A hook's event on the hook's transaction; what wakes the dispatcher after the commit."""
        return self.wake.set if self._new_event(conn, event_type, data) is not None else None

    def _new_event(self, conn: Connection, event_type: str, data: dict[str, Any]) -> str | None:
        if event_type not in EVENTS:
            raise ValueError(f"unknown event type {event_type!r}")
        targets = self._subscribers(conn, event_type)
        if not targets:
            return None
        return self._store(conn, event_type, data, targets, None)

    def store_status(self, conn: Connection, message_id: int, status: str) -> Callable[[], None] | None:
        """Queue.status_hooks: store the message.status event in the transaction that changed the
        status, so the change and its event commit together. A callback_url hears every state after
        `queued` (the POST's answer already said queued), so queueing - the API's hot path - costs no
        lookup. Returns what wakes the dispatcher after the commit."""
        targets = self._subscribers(conn, "message.status")
        if status != "queued" and message_id not in self._no_callback:
            callback = _CALLBACK_OF(conn, {"message_id": message_id}).first()
            if callback is not None:
                targets.append((None, callback.url, callback.signing_secret))
            else:
                self._no_callback.add(message_id)
        if not targets:
            return None
        message = _STATUS_DATA(conn, {"message_id": message_id}).first()
        if message is None:
            return None
        data = {"id": message.id, "status": status, "to": message.to_number, "kind": message.kind,
                "priority": Priority.NAME.get(message.priority, "normal"), "segments": message.segments,
                "sim": message.sim, "error": message.last_error if status != "sent" else None,
                "at": _iso(message.updated_at)}
        self._store(conn, "message.status", data, targets, message_id)
        return self.wake.set

    def _subscribers(self, conn: Connection, event_type: str) -> list[tuple[int | None, str, str]]:
        return [(eid, url, secret) for eid, url, secret, events in self._active_endpoints(conn) if event_type in events]

    def _store(self, conn: Connection, event_type: str, data: dict[str, Any],
               targets: list[tuple[int | None, str, str]], message_id: int | None) -> str:
        """One delivery row per receiver of a new event, on the caller's transaction; the event id."""
        now = self.clock.now()
        event_id = "evt_" + uuid.uuid4().hex
        body = json.dumps({"id": event_id, "type": event_type, "created_at": _iso(now), "data": data},
                          separators=(",", ":"), ensure_ascii=False)
        _NEW_DELIVERY(conn, [
            {"event_id": event_id, "event_type": event_type, "payload": body, "endpoint_id": endpoint_id,
             "url": url, "secret": secret, "status": DeliveryStatus.PENDING, "attempts": 0,
             "next_attempt_at": now, "message_id": message_id, "created_at": now}
            for endpoint_id, url, secret in targets])
        return event_id

    def store_received(self, conn: Connection, message: InboundMessage) -> Callable[[], None] | None:
        """InboundPipeline.received_hooks: an SMS is being stored (after reassembly); its event
        commits with it."""
        return self._store_new(conn, "message.received", {
            "id": message.id, "from": message.sender, "sim": message.modem, "text": message.text,
            "parts": message.parts, "complete": message.complete, "contact_id": message.contact_id,
            "keyword": message.keyword, "sent_at": _iso(message.sent_at),
            "received_at": _iso(message.received_at)})

    def store_consent(self, conn: Connection, contact: Contact, event: ConsentEvent) -> Callable[[], None] | None:
        """Audience.consent_hooks: a ledger entry is being appended; its event commits with it. A
        double opt-in request is not consent yet, so it is no event; the customer's YES is."""
        event_type = {ConsentKind.OPT_OUT: "contact.opted_out", ConsentKind.OPT_IN: "contact.opted_in"}.get(event.kind)
        if event_type is None:
            return None
        return self._store_new(conn, event_type, {
            "contact_id": contact.id, "number": contact.number, "scope": event.scope, "source": event.source,
            "detail": event.detail, "inbound_message_id": event.inbound_message_id, "at": _iso(event.at)})

    def store_callbacks(self, conn: Connection, callbacks: list[tuple[int, str, int | None]]) -> None:
        """(message id, callback_url, API key id) rows, on the transaction that stores the messages,
        so a message's first status change already finds its callback."""
        for message_id, *_ in callbacks:
            self._no_callback.discard(message_id)  # a SQLite id can come back after a rollback or delete
        if callbacks:
            _NEW_CALLBACK(conn, [{"message_id": m, "url": url, "api_key_id": key} for m, url, key in callbacks])

    def _active_endpoints(self, conn: Connection) -> list[tuple[int, str, str, frozenset[str]]]:
        """Cached for `cache_seconds`; read on the caller's connection (a hook's transaction holds
        the database's write lock: a second connection would only add to its wait)."""
        now = time.monotonic()
        with self._lock:
            if self._endpoints is None or now - self._endpoints_at > self.cache_seconds:
                rows = _ACTIVE_ENDPOINTS(conn).all()
                self._endpoints = [(r.id, r.url, r.secret, frozenset(r.events.split(","))) for r in rows]
                self._endpoints_at = now
            return self._endpoints

    def _forget_endpoints(self) -> None:
        with self._lock:
            self._endpoints = None

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
            target = _target(session, old, now)
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

    def counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(tuple(r) for r in session.execute(
                select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all())

    def failed_attempts(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(WebhookAttempt).where(
                (WebhookAttempt.http_status.is_(None)) | (WebhookAttempt.http_status < 200)
                | (WebhookAttempt.http_status >= 300))) or 0

    # ---- delivering -------------------------------------------------------------------------
    def run_once(self) -> int:
        """Try what is due now (up to `batch` per receiver, receivers in parallel) and wait for it;
        returns how many deliveries were tried."""
        return sum(future.result() for future in self._dispatch())

    def _dispatch(self) -> list[Future[int]]:
        """Hand each receiver with due deliveries that no sender is busy with to a sender thread."""
        now = self.clock.now()
        due = (WebhookDelivery.status == DeliveryStatus.PENDING) & (WebhookDelivery.next_attempt_at <= now)
        with self.sessions() as session:
            found = session.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.url).where(due)
                                    .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.url)).all()
            receivers: dict[Receiver, Any] = {}
            for endpoint_id, url in found:
                if endpoint_id is not None:
                    receivers[("endpoint", endpoint_id)] = WebhookDelivery.endpoint_id == endpoint_id
                else:
                    receivers[("callback", url)] = WebhookDelivery.endpoint_id.is_(None) & (WebhookDelivery.url == url)
            work: list[tuple[Receiver, list[int]]] = []
            with self._lock:
                idle = [r for r in receivers if r not in self._busy]
            for receiver in idle:
                ids = session.scalars(select(WebhookDelivery.id).where(due, receivers[receiver])
                                      .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                                      .limit(self.batch)).all()
                if ids:
                    work.append((receiver, list(ids)))
        futures: list[Future[int]] = []
        for receiver, ids in work:
            with self._lock:
                if receiver in self._busy or self._stop.is_set():
                    continue
                self._busy.add(receiver)
            try:
                futures.append(self._pool().submit(self._deliver_to, receiver, ids))
            except RuntimeError:  # the pool is shut down: stopping
                with self._lock:
                    self._busy.discard(receiver)
        return futures

    def _deliver_to(self, receiver: Receiver, ids: list[int]) -> int:
        """One receiver's due deliveries, oldest first; after one that could not reach it at all
        (no answer), the rest wait for the next round rather than each waiting out the timeout."""
        tried = 0
        try:
            for delivery_id in ids:
                if self._stop.is_set():
                    break
                try:
                    attempted, answered = self._deliver(delivery_id)
                except Exception:  # e.g. the database locked: the lease runs out and it is tried again
                    log.exception("webhook %d: delivery step failed", delivery_id)
                    break
                tried += attempted
                if attempted and not answered:
                    break
        finally:
            with self._lock:
                self._busy.discard(receiver)
            self.wake.set()
        return tried

    def next_due(self) -> float | None:
        with self.sessions() as session:
            when = session.scalar(select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == DeliveryStatus.PENDING))
        return when.timestamp() if when else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()  # before looking: a sender finishing from now on wakes the wait below
            try:
                started = self._dispatch()
                due = self.next_due()
            except Exception:
                log.exception("webhook dispatcher step failed")
                started, due = [], None
            wait = IDLE_POLL if due is None else max(0.0, due - self.clock.time()) + 0.001
            if not started and due is not None and wait <= 0.002:
                wait = IDLE_POLL  # what is due belongs to busy receivers: their senders wake us
            self.clock.wait(self.wake, min(wait, IDLE_POLL))

    def _deliver(self, delivery_id: int) -> tuple[int, bool]:
        """One attempt: (1 if it was made, whether the receiver answered at all). The receiver's
        current state decides: an endpoint's URL and secrets now, not when the event was stored;
        a deleted or inactive endpoint, or the revoked key of a callback, cancels the delivery."""
        now = self.clock.now()
        lease = now + timedelta(seconds=self.timeout * 2 + 5)
        with self.sessions.begin() as session:
            # a lease, so two gateways sharing a database never send the same row at once
            taken = session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now).values(next_attempt_at=lease)).rowcount
            if not taken:
                return 0, True
            row = session.get_one(WebhookDelivery, delivery_id)
            target = _target(session, row, now)
            if isinstance(target, str):
                row.status, row.last_error = DeliveryStatus.CANCELLED, target
                return 0, True
            url, secrets_ = target
            row.url, row.secret = url, secrets_[0]  # the log shows where it went
            body, event_type, event_id = row.payload.encode("utf-8"), row.event_type, row.event_id
        timestamp = int(self.clock.time())
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "gsmgw-webhooks/1",
            "X-Gsmgw-Event": event_type, "X-Gsmgw-Event-Id": event_id, "X-Gsmgw-Delivery": str(delivery_id),
            "X-Gsmgw-Timestamp": str(timestamp), "X-Gsmgw-Signature": signature_header(secrets_, timestamp, body)})
        started = time.monotonic()
        http_status: int | None = None
        error: str | None = None
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                http_status = response.status
                response.read(1024)
        except urllib.error.HTTPError as exc:
            http_status = exc.code
            error = f"HTTP {exc.code}: {_excerpt(exc)}"
            exc.close()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = sanitised(str(getattr(exc, "reason", None) or exc), 300) or type(exc).__name__
        duration_ms = int((time.monotonic() - started) * 1000)
        ok = http_status is not None and 200 <= http_status < 300
        done = self.clock.now()
        with self.sessions.begin() as session:
            row = session.get_one(WebhookDelivery, delivery_id)
            row.attempts += 1
            session.add(WebhookAttempt(delivery_id=delivery_id, at=done, http_status=http_status,
                                       error=None if ok else error, duration_ms=duration_ms))
            if ok:
                row.status, row.delivered_at, row.last_error = DeliveryStatus.DELIVERED, done, None
            elif row.attempts >= self.max_attempts:
                row.status, row.last_error = DeliveryStatus.FAILED, error
                log.warning("webhook %d to %s: gave up after %d attempts: %s", delivery_id, url, row.attempts, error)
            else:
                row.last_error = error
                row.next_attempt_at = done + timedelta(seconds=self.delay(row.attempts))
                log.info("webhook %d to %s failed (%s); retry in %g s", delivery_id, url, error,
                         self.delay(row.attempts))
        return 1, http_status is not None


def _target(session: Session, row: WebhookDelivery, now: datetime) -> tuple[str, list[str]] | str:
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


class _RecentIds:
    """A bounded set of ids: the oldest are forgotten first."""

    def __init__(self, size: int) -> None:
        self._ids: dict[int, None] = {}
        self._size = size
        self._lock = threading.Lock()

    def __contains__(self, item: int) -> bool:
        return item in self._ids

    def add(self, item: int) -> None:
        with self._lock:
            self._ids[item] = None
            if len(self._ids) > self._size:
                del self._ids[next(iter(self._ids))]

    def discard(self, item: int) -> None:
        with self._lock:
            self._ids.pop(item, None)


def endpoint_dict(row: WebhookEndpoint) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": row.events.split(",") if row.events else [],
            "description": row.description, "active": row.active, "created_at": _iso(row.created_at),
            "previous_secret_valid_until": _iso(row.previous_secret_until) if row.previous_secret else None}


def delivery_dict(row: WebhookDelivery) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "event_type": row.event_type,
            "endpoint_id": row.endpoint_id, "url": row.url, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": _iso(row.next_attempt_at) if row.status == DeliveryStatus.PENDING else None,
            "last_error": row.last_error, "message_id": row.message_id, "replay_of": row.replay_of,
            "created_at": _iso(row.created_at), "delivered_at": _iso(row.delivered_at)}


def attempt_dict(row: WebhookAttempt) -> dict[str, Any]:
    return {"at": _iso(row.at), "http_status": row.http_status, "error": row.error, "duration_ms": row.duration_ms}


EXCERPT_CHARS = 120  # of a failing receiver's answer, kept in last_error and the attempt log


def _excerpt(exc: urllib.error.HTTPError) -> str:
    """The start of a failing receiver's body as one line of printable text: enough to see what
    went wrong, never a page of whatever the receiver (or a host it points at) answers."""
    try:
        raw = exc.read(EXCERPT_CHARS * 4)
    except Exception:
        raw = b""
    return sanitised(raw.decode("utf-8", "replace")) or sanitised(str(exc.reason)) or "no body"


def sanitised(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` without control characters, its whitespace collapsed, cut to `limit` characters."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
