"""Idempotency-Key for POSTs: the first request with a key runs, its answer is kept for 24 hours
and replayed to a repeat of the same request; the same key with a different request is a 422, and
a repeat while the first still runs a 409. Answers of 5xx are not kept (the client may retry)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from flask import Response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gateway.apikeys import keys
from gateway.apikeys.models import IdempotencyRecord
from web.api.operations import Call, Operation, run_handler
from web.api.problems import PROBLEM, ApiError, invalid, problem
from web.context import WebContext

IDEMPOTENCY_TTL = timedelta(hours=24)


class Idempotency:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._purged = float("-inf")

    def run(self, op: Operation, call: Call, key: keys.KeyInfo, idem: str) -> Response:
        """The handler's answer for this key and Idempotency-Key: run once, replayed after."""
        if not 1 <= len(idem) <= 255 or not idem.isprintable():
            raise invalid("Idempotency-Key", "must be 1 to 255 printable characters")
        canonical = json.dumps([op.method, request.path, call.body], sort_keys=True, ensure_ascii=False)
        fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        sessions, now = self.ctx.sessions, self.ctx.clock.now()
        if self.ctx.clock.time() - self._purged > 600:  # expired keys go now and then, not on every request
            self._purged = self.ctx.clock.time()
            with sessions.begin() as session:
                session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL))
        try:
            with sessions.begin() as session:
                session.add(IdempotencyRecord(api_key_id=key.id, key=idem, fingerprint=fingerprint, created_at=now))
        except IntegrityError:
            with sessions() as session:
                record = session.scalar(select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == key.id, IdempotencyRecord.key == idem))
            if record is not None and record.created_at < now - IDEMPOTENCY_TTL:  # expired, not yet purged
                self._forget(key.id, idem)
                return self.run(op, call, key, idem)
            if record is None:  # purged between the two statements
                raise ApiError(409, "a request with this Idempotency-Key is being processed; retry") from None
            if record.fingerprint != fingerprint:
                raise ApiError(422, "this Idempotency-Key was used with a different request",
                               errors=[{"field": "Idempotency-Key", "message": "already used for a different request"}]) from None
            if record.status_code is None:
                raise ApiError(409, "the first request with this Idempotency-Key has not finished (or the gateway "
                               "stopped while it ran: check GET /messages before sending it with a new key)") from None
            response = Response(record.response_body, status=record.status_code,
                                mimetype=PROBLEM if record.status_code >= 400 else "application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = run_handler(op, call)
        except ApiError as exc:
            response = problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)
        except BaseException:
            self._forget(key.id, idem)
            raise
        if response.status_code >= 500:
            self._forget(key.id, idem)
            return response
        with sessions.begin() as session:
            record = session.scalar(select(IdempotencyRecord).where(
                IdempotencyRecord.api_key_id == key.id, IdempotencyRecord.key == idem))
            if record is not None:
                record.status_code, record.response_body = response.status_code, response.get_data(as_text=True)
        return response

    def _forget(self, key_id: int, idem: str) -> None:
        with self.ctx.sessions.begin() as session:
            session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.api_key_id == key_id, IdempotencyRecord.key == idem))
