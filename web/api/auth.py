"""Who is calling: the bearer key checked (valid, not revoked, with the scope), and wrong keys held
off per client address and key prefix."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from flask import request

from gateway.apikeys import keys
from web.api.problems import ApiError
from web.context import WebContext


class KeyCheck:
    """Called with an operation's scopes in a request: its key, or 401/403/429. A key's last_used_at is written at
    most once a minute, so reads cost no write."""

    def __init__(self, ctx: WebContext, limiter: FailureLimiter) -> None:
        self.ctx = ctx
        self.limiter = limiter
        self._touched: dict[int, float] = {}

    def __call__(self, scopes: tuple[str, ...]) -> keys.KeyInfo:
        """The request's key if it is valid and has one of `scopes`; else the ApiError to answer."""
        header = request.headers.get("Authorization", "")
        if not header:  # guesses nothing: not counted, never held off
            raise ApiError(401, "send an API key: Authorization: Bearer gsk_…",
                           headers={"WWW-Authenticate": 'Bearer realm="gsmgw"'})
        client = request.remote_addr or "?"
        scheme, _, token = header.partition(" ")
        token = token.strip()
        # the key is checked first: a valid key is never held off, whatever others sent from its address
        key = keys.verify(self.ctx.sessions, token) if scheme.lower() == "bearer" else None
        if key is None:
            wait = self.limiter.failed(client, token[:len(keys.TOKEN_PREFIX) + 8])
            if wait:
                raise ApiError(429, "too many failed authentication attempts from this address with this key; "
                               "try again later", headers={"Retry-After": str(wait)})
            raise ApiError(401, "the API key is not valid (wrong, revoked, or not a Bearer token)",
                           headers={"WWW-Authenticate": 'Bearer realm="gsmgw", error="invalid_token"'})
        if not key.allows(scopes):
            raise ApiError(403, f"this key lacks the scope for this operation (needs {' or '.join(scopes)})")
        now = self.ctx.clock.time()
        if now - self._touched.get(key.id, 0.0) > 60:  # last_used_at to the minute: no write per request
            self._touched[key.id] = now
            keys.touch(self.ctx.sessions, key.id, self.ctx.clock.now())
        return key


class FailureLimiter:
    """Failed authentications in a rolling minute, per (client address, key prefix), and per address
    at `address_factor` times that: over either, further wrong keys get 429 instead of 401.

    Only wrong keys are ever held off (the caller checks a key before asking here): a POS on the
    same address as a misconfigured app, or as someone guessing, keeps working. Per prefix, so one
    app retrying a stale key does not hold off another's typo; per address too, so fresh guesses
    (each with a new prefix) are held off as well. Memory is bounded: the last `per_minute` times
    per prefix, the last `address_factor * per_minute` per address, 10,000 of each at most."""

    def __init__(self, clock: Any, per_minute: int, window: float = 60.0, address_factor: int = 10) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.window = window
        self.address_factor = address_factor
        self.total = 0  # for /metrics
        self._by_key: dict[tuple[str, str], deque[float]] = {}
        self._by_address: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def failed(self, client: str, prefix: str) -> int:
        """Record a wrong key from `client` starting with `prefix`; seconds the caller must wait
        before trying again (0: answer 401, it may retry now)."""
        now = self.clock.time()
        with self._lock:
            self.total += 1
            if self.per_minute <= 0:
                return 0
            wait = max(self._wait(self._by_key.get((client, prefix)), self.per_minute, now),
                       self._wait(self._by_address.get(client), self.per_minute * self.address_factor, now))
            self._add(self._by_key, (client, prefix), self.per_minute, now)
            self._add(self._by_address, client, self.per_minute * self.address_factor, now)
            return wait

    def _wait(self, times: deque[float] | None, limit: int, now: float) -> int:
        if not times:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.window - now))

    @staticmethod
    def _add(table: dict[Any, deque[float]], key: Any, limit: int, now: float) -> None:
        times = table.get(key)
        if times is None:
            times = table[key] = deque(maxlen=limit)
            if len(table) > 10_000:  # bound memory against address floods
                table.pop(next(iter(table)))
        times.append(now)
