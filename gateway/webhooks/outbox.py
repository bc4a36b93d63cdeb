"""Webhooks: events go to a persisted outbox first, a dispatcher delivers them with retries.

Events are stored in the transaction of the change they report, by hooks: `store_status` (a
message's status, a Queue status hook), `store_received` (an inbound SMS, an InboundPipeline hook)
and `store_consent` (contact.opted_out / contact.opted_in, an Audience hook), so a crash keeps the
change and its event or neither. Each event is one delivery row per receiver (each subscribed
endpoint, and the message's own callback_url); the dispatcher POSTs
the stored body, signed, and records every attempt. A receiver that fails is retried with
exponential backoff; after `max_attempts` the delivery is `failed` (kept, visible, replayable).
Receivers are independent: each is served by one sender thread at a time, so one that hangs delays
only its own deliveries. The dispatcher is a job of the daemon's scheduler (`start`), every
IDLE_POLL and brought forward by each wake-up (an event stored, a sender done). A delivery goes where its receiver is now (an endpoint's current URL and
secrets; none at all once it is deleted or inactive, or once the key of a callback is revoked).

Delivery is at least once: a receiver dedupes by the event id (the same for every receiver of one
event, and for a replay). Signature, as documented in docs/api.md:

    X-Gsmgw-Timestamp: <unix seconds>
    X-Gsmgw-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret>

and, for the grace period after a secret rotation, a second comma-separated `sha256=` value made with
the previous secret (the current one first).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience.models import Contact
from gateway.consent.models import ConsentEvent, ConsentKind
from gateway.core.clock import Clock
from gateway.core.retry import RetryPolicy
from gateway.inbound.models import InboundMessage
from gateway.store.db import Prepared, engine_of
from gateway.webhooks.endpoints import EndpointAdmin, iso, target_of
from gateway.webhooks.models import DeliveryStatus, MessageCallback, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.signing import signature_header
from gateway.webhooks.status_events import callback_of, status_data
from gateway.webhooks.targets import TargetPolicy
from gateway.webhooks.transport import guarded_opener, post

_ACTIVE_ENDPOINTS = Prepared(select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret,
                                     WebhookEndpoint.events)
                              .where(WebhookEndpoint.active.is_(True), WebhookEndpoint.deleted_at.is_(None)))
_NEW_DELIVERY = Prepared(insert(WebhookDelivery.__table__))
_NEW_CALLBACK = Prepared(insert(MessageCallback.__table__))

log = logging.getLogger("gsmgw.webhooks")

EVENTS = ("message.status", "message.received", "contact.opted_out", "contact.opted_in")
IDLE_POLL = 10.0  # seconds: events another process stored (`gsmgw send`, `gsmgw consent`) go out within it
Receiver = tuple[str, int | str]  # ("endpoint", id) or ("callback", url): one at a time each
DISPATCH_JOB = "webhooks.dispatch"

if TYPE_CHECKING:
    from gateway.scheduler.service import Scheduler


class Wake:
    """What wakes the dispatcher (`wake.set()`, also as an after-commit callback): it brings the
    dispatcher's scheduler job forward; a no-op where no dispatcher runs (the CLI only stores)."""

    def __init__(self) -> None:
        self.soon: Callable[[], None] = lambda: None

    def set(self) -> None:
        self.soon()


class Webhooks(EndpointAdmin):
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, timeout: float = 5.0,
                 retry: RetryPolicy | None = None,
                 batch: int = 20, cache_seconds: float = 5.0, allowed_hosts: Iterable[str] = (),
                 senders: int = 8) -> None:
        self.sessions = sessions
        self.policy = TargetPolicy.of(allowed_hosts)
        self.clock = clock
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_attempts=16, first_delay=10.0, max_delay=3600.0)  # 10 s, 20 s … an hour
        self.batch = batch
        self.cache_seconds = cache_seconds
        self.wake = Wake()
        self._stop = threading.Event()
        self._scheduler: Scheduler | None = None
        self._opener = guarded_opener(self.policy)
        self._endpoints: list[tuple[int, str, str, frozenset[str]]] | None = None
        self._endpoints_at = 0.0
        self._lock = threading.Lock()
        # receivers are delivered to independently: each by one sender thread at a time, so one that
        # hangs until the timeout holds up only its own deliveries
        self._senders_wanted = senders
        self._senders: ThreadPoolExecutor | None = None  # made on first use: most processes only store
        self._busy: set[Receiver] = set()
        self.on_attempt: Callable[[bool], None] = lambda ok: None  # told each attempt's outcome (metrics)

    # ---- wiring -----------------------------------------------------------------------------
    def attach(self, queue: Any, *, inbound: Any = None, audience: Any = None) -> None:
        """Listen to a Queue's status changes and the ends of its report waits (message.status), an InboundPipeline's stored messages
        (message.received: one event per SMS, however many parts it came in) and an Audience's
        ledger entries (contact.opted_out / contact.opted_in, from any source)."""
        if self.store_status not in queue.status_hooks:
            queue.status_hooks.append(self.store_status)
        if self.store_no_report not in queue.no_report_hooks:
            queue.no_report_hooks.append(self.store_no_report)
        if inbound is not None and self.store_received not in inbound.received_hooks:
            inbound.received_hooks.append(self.store_received)
        if audience is not None and self.store_consent not in audience.consent_hooks:
            audience.consent_hooks.append(self.store_consent)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(max_workers=self._senders_wanted, thread_name_prefix="webhook-send")
            return self._senders

    def start(self, scheduler: Scheduler) -> None:
        """Run the dispatcher as `scheduler`'s job."""
        self._stop.clear()
        self._scheduler = scheduler
        scheduler.every(DISPATCH_JOB, IDLE_POLL, self.dispatch_round)
        self.wake.soon = lambda: scheduler.run_soon(DISPATCH_JOB)

    def stop(self, timeout: float = 8.0) -> None:
        self._stop.set()
        self.wake.soon = lambda: None
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.get_job(DISPATCH_JOB) is not None:
            scheduler.remove_job(DISPATCH_JOB)
        with self._lock:
            senders, self._senders = self._senders, None
        if senders is not None:
            senders.shutdown(wait=True, cancel_futures=True)

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
        return self._store_status(conn, message_id, status, None)

    def store_no_report(self, conn: Connection, message_id: int, status: str) -> Callable[[], None] | None:
        """Queue.no_report_hooks: a `sent` message whose status reports will not come any more is
        told once more, `"report": "none"`, so an app waiting for `delivered` stops waiting."""
        return self._store_status(conn, message_id, status, "none")

    def _store_status(self, conn: Connection, message_id: int, status: str,
                      report: str | None) -> Callable[[], None] | None:
        targets = self._subscribers(conn, "message.status")
        callback = callback_of(conn, message_id, status)
        if callback is not None:
            targets.append(callback)
        if not targets:
            return None
        data = status_data(conn, message_id, status, report)
        if data is None:
            return None
        self._store(conn, "message.status", data, targets, message_id)
        return self.wake.set

    def _subscribers(self, conn: Connection, event_type: str) -> list[tuple[int | None, str, str]]:
        return [(eid, url, secret) for eid, url, secret, events in self._active_endpoints(conn) if event_type in events]

    def _store(self, conn: Connection, event_type: str, data: dict[str, Any],
               targets: list[tuple[int | None, str, str]], message_id: int | None) -> str:
        """One delivery row per receiver of a new event, on the caller's transaction; the event id."""
        now = self.clock.now()
        event_id = "evt_" + uuid.uuid4().hex
        body = json.dumps({"id": event_id, "type": event_type, "created_at": iso(now), "data": data},
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
            "keyword": message.keyword, "sent_at": iso(message.sent_at),
            "received_at": iso(message.received_at)})

    def store_consent(self, conn: Connection, contact: Contact, event: ConsentEvent) -> Callable[[], None] | None:
        """Audience.consent_hooks: a ledger entry is being appended; its event commits with it. A
        double opt-in request is not consent yet, so it is no event; the customer's YES is."""
        event_type = {ConsentKind.OPT_OUT: "contact.opted_out", ConsentKind.OPT_IN: "contact.opted_in"}.get(event.kind)
        if event_type is None:
            return None
        return self._store_new(conn, event_type, {
            "contact_id": contact.id, "number": contact.number, "scope": event.scope, "source": event.source,
            "detail": event.detail, "inbound_message_id": event.inbound_message_id, "at": iso(event.at)})

    def store_callbacks(self, conn: Connection, callbacks: list[tuple[int, str, int | None]]) -> None:
        """(message id, callback_url, API key id) rows, on the transaction that stores the messages,
        so a message's first status change already finds its callback."""
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

    def dispatch_round(self) -> float:
        """One round of the dispatcher (the scheduler's job): hand out what is due; the seconds
        until it is wanted again. A sender finishing during the round brings the next one forward."""
        if self._stop.is_set():
            return IDLE_POLL
        try:
            started = self._dispatch()
            due = self.next_due()
        except Exception:
            log.exception("webhook dispatcher step failed")
            started, due = [], None
        wait = IDLE_POLL if due is None else max(0.0, due - self.clock.time()) + 0.001
        if not started and due is not None and wait <= 0.002:
            wait = IDLE_POLL  # what is due belongs to busy receivers: their senders wake us
        return min(wait, IDLE_POLL)

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
            target = target_of(session, row, now)
            if isinstance(target, str):
                row.status, row.last_error = DeliveryStatus.CANCELLED, target
                return 0, True
            url, secrets_ = target
            row.url, row.secret = url, secrets_[0]  # the log shows where it went
            body, event_type, event_id = row.payload.encode("utf-8"), row.event_type, row.event_id
        timestamp = int(self.clock.time())
        http_status, error, duration_ms = post(self._opener, url, body, timeout=self.timeout, headers={
            "X-Gsmgw-Event": event_type, "X-Gsmgw-Event-Id": event_id, "X-Gsmgw-Delivery": str(delivery_id),
            "X-Gsmgw-Timestamp": str(timestamp), "X-Gsmgw-Signature": signature_header(secrets_, timestamp, body)})
        ok = http_status is not None and 200 <= http_status < 300
        done = self.clock.now()
        with self.sessions.begin() as session:
            session.add(WebhookAttempt(delivery_id=delivery_id, at=done, http_status=http_status,
                                       error=None if ok else error, duration_ms=duration_ms))
            attempts = session.get_one(WebhookDelivery, delivery_id).attempts + 1
            outcome: dict[str, Any]
            if ok:
                outcome = {"status": DeliveryStatus.DELIVERED, "delivered_at": done, "last_error": None}
            elif attempts >= self.retry.max_attempts:
                outcome = {"status": DeliveryStatus.FAILED, "last_error": error}
            else:
                outcome = {"last_error": error, "next_attempt_at": done + timedelta(seconds=self.retry.delay(attempts))}
            # a compare-and-set on this attempt's lease: a delivery cancelled (or, its lease run out,
            # taken by another sender) meanwhile keeps what it became; the attempt is only logged
            ours = session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at == lease).values(
                    attempts=WebhookDelivery.attempts + 1, **outcome)).rowcount
            if not ours:
                session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                .values(attempts=WebhookDelivery.attempts + 1))
                log.info("webhook %d to %s changed during its attempt: its result (%s) is only logged",
                         delivery_id, url, "delivered" if ok else error)
            elif not ok and attempts >= self.retry.max_attempts:
                log.warning("webhook %d to %s: gave up after %d attempts: %s", delivery_id, url, attempts, error)
            elif not ok:
                log.info("webhook %d to %s failed (%s); retry in %g s", delivery_id, url, error,
                         self.retry.delay(attempts))
        self.on_attempt(ok)
        return 1, http_status is not None
