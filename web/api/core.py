"""The REST API's machinery: one place that declares, checks and documents every operation.

A route module declares its operations with `api.operation(...)`: method, path, scopes, the JSON
Schemas of its path, query and body, and its responses. The same declaration
- registers the Flask view,
- validates the request before the handler runs (field-level 422s, unknown fields rejected),
- checks the bearer key and its scopes, and the Idempotency-Key of a POST,
- and becomes the operation in the OpenAPI document (web/api/openapi.py),
so the document cannot drift from the code. Errors are RFC 9457 problem details.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from gateway.apikeys import keys
from gateway.apikeys.models import IdempotencyRecord
from web.context import WebContext

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_ID = 2**63 - 1

# Problem types: stable identifiers (RFC 9457 §3.1.1); docs/api.md lists them.
TYPES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    409: "conflict", 413: "body-too-large", 415: "unsupported-media-type", 422: "validation-error",
    429: "too-many-requests", 500: "internal-error", 503: "unavailable",
}
TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Request body too large", 415: "Unsupported media type", 422: "Validation failed",
    429: "Too many requests", 500: "Internal error", 503: "Unavailable",
}


class ApiError(Exception):
    """Raised by handlers (and the machinery): becomes a problem+json response."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def invalid(field_name: str, message: str) -> ApiError:
    return ApiError(422, f"{field_name}: {message}", errors=[{"field": field_name, "message": message}])


def problem(status: int, detail: str, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": f"urn:gsmgw:problem:{TYPES.get(status, 'error')}",
                            "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
                            "instance": request.path}
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# ---- shared schemas ---------------------------------------------------------------------------
PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
         "description": "items per page"}
CURSOR = {"type": "string", "maxLength": 100, "description": "`next_cursor` of the previous page"}


def page_of(item_schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": item_schema},
        "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page; null at the end"}}}


@dataclass
class Call:
    """What a handler gets: validated path/query/body, the caller's key, the context."""

    ctx: WebContext
    path: dict[str, Any]
    query: dict[str, Any]
    body: Any
    key: keys.KeyInfo | None


Handler = Callable[[Call], "Response | tuple[int, Any] | tuple[int, Any, dict[str, str]]"]


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form, relative to PREFIX: /messages/{message_id}
    handler: Handler
    summary: str
    tag: str
    scopes: tuple[str, ...] | None  # None: no key needed; otherwise any of these (admin: all)
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    responses: dict[int, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    conflict: str | None = None  # description of a 409, if the operation has one
    idempotent: bool = False  # honours Idempotency-Key
    response_type: str = "application/json"
    response_headers: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    description: str = ""
    # the handler's own checks of a body that failed its schema, so one answer names every bad
    # field (e.g. a bulk's numbers next to its schema errors); fields the schema faulted are skipped
    also_check: Callable[[Call], list[dict[str, str]]] | None = None
    query_schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # built once: the validator cache is keyed by schema, and a schema made per request would
        # add an entry per request
        self.query_schema = {"type": "object", "properties": self.query}

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Api:
    """Collects operations; `install` puts them on a Flask app as one blueprint."""

    def __init__(self, ctx: WebContext, *, auth_failures_per_minute: int = 10) -> None:
        self.ctx = ctx
        self.operations: list[Operation] = []
        self.limiter = FailureLimiter(ctx.clock, auth_failures_per_minute)
        self._validators: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
        self._touched: dict[int, float] = {}
        self._purged = float("-inf")

    def operation(self, method: str, path: str, *, summary: str, tag: str, scopes: Iterable[str] | None,
                  path_params: dict[str, dict[str, Any]] | None = None,
                  query: dict[str, dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
                  responses: dict[int, tuple[str, dict[str, Any] | None]], conflict: str | None = None,
                  idempotent: bool = False, response_type: str = "application/json",
                  response_headers: dict[int, dict[str, dict[str, Any]]] | None = None,
                  description: str = "",
                  also_check: Callable[[Call], list[dict[str, str]]] | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(
                method.upper(), path, handler, summary, tag, tuple(scopes) if scopes is not None else None,
                path_params or {}, query or {}, body, responses, conflict, idempotent, response_type,
                response_headers or {}, description, also_check))
            return handler
        return register

    # ---- Flask ------------------------------------------------------------------------------
    def install(self, app: Flask) -> None:
        blueprint = Blueprint("api", __name__, url_prefix=PREFIX)
        for op in self.operations:
            rule = re.sub(r"\{(\w+)\}", lambda m: _converter(op, m.group(1)), op.path)
            blueprint.add_url_rule(rule, endpoint=f"{op.operation_id}", view_func=self._view(op),
                                   methods=[op.method])
        app.register_blueprint(blueprint)

    def _view(self, op: Operation) -> Callable[..., Response]:
        def view(**path_values: Any) -> Response:
            try:
                return self._handle(op, path_values)
            except ApiError as exc:
                return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)
        view.__name__ = op.operation_id
        return view

    def _handle(self, op: Operation, path_values: dict[str, Any]) -> Response:
        key = self._authenticate(op) if op.scopes is not None else None
        path = self._path(op, path_values)
        query = self._query(op)
        call = Call(self.ctx, path, query, None, key)
        call.body = self._body(op, call) if op.body is not None else None
        idem = request.headers.get("Idempotency-Key") if op.idempotent and key is not None else None
        if idem is None:
            return _respond(op.handler(call))
        return self._idempotent(op, call, key, idem)

    # ---- auth -------------------------------------------------------------------------------
    def _authenticate(self, op: Operation) -> keys.KeyInfo:
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
        if not key.allows(op.scopes or ()):
            raise ApiError(403, f"this key lacks the scope for this operation (needs {' or '.join(op.scopes or ())})")
        now = self.ctx.clock.time()
        if now - self._touched.get(key.id, 0.0) > 60:  # last_used_at to the minute: no write per request
            self._touched[key.id] = now
            keys.touch(self.ctx.sessions, key.id, self.ctx.clock.now())
        return key

    # ---- input ------------------------------------------------------------------------------
    def _path(self, op: Operation, values: dict[str, Any]) -> dict[str, Any]:
        for name, schema in op.path_params.items():
            if list(self._validator(schema).iter_errors(values.get(name))):
                raise ApiError(404, f"no such {name.replace('_', ' ')}: {values.get(name)!s:.40}")
        return values

    def _query(self, op: Operation) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for name in request.args:
            given = request.args.getlist(name)
            schema = op.query.get(name)
            if schema is None:
                errors.append({"field": name, "message": "unknown query parameter"})
            elif len(given) > 1:
                errors.append({"field": name, "message": "give it once"})
            else:
                try:
                    values[name] = _coerce(given[0], schema)
                except ValueError as exc:
                    errors.append({"field": name, "message": str(exc)})
        if not errors:
            errors = field_errors(self._validator(op.query_schema), values)
        for name, schema in op.query.items():
            if not errors and name in values and schema.get("format") == "date-time":
                try:
                    values[name] = parse_time(values[name])
                except ValueError as exc:
                    errors.append({"field": name, "message": str(exc)})
        if errors:
            raise ApiError(422, _summary(errors), errors=errors)
        for name, schema in op.query.items():
            if name not in values and "default" in schema:
                values[name] = schema["default"]
        return values

    def _body(self, op: Operation, call: Call) -> Any:
        if request.mimetype != "application/json":
            raise ApiError(415, f"send the body as application/json (got {request.mimetype or 'no content type'})")
        raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
        try:
            body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
        errors = field_errors(self._validator(_alternative(op.body, body)), body)
        if errors and op.also_check is not None:
            faulted = {e["field"] for e in errors}
            call.body = body
            errors = sorted(errors + [e for e in op.also_check(call) if e["field"] not in faulted],
                            key=field_order)[:MAX_ERRORS]
        if errors:
            raise ApiError(422, _summary(errors), errors=errors)
        return body

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """One validator per declared schema, made on first use. Keyed by the schema's id, with the
        schema kept alongside so that id can never be reused by another object while cached."""
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = self._validators[id(schema)] = (schema, Draft202012Validator(schema))
        return entry[1]

    # ---- idempotency ------------------------------------------------------------------------
    def _idempotent(self, op: Operation, call: Call, key: keys.KeyInfo, idem: str) -> Response:
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
                return self._idempotent(op, call, key, idem)
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
            response = _respond(op.handler(call))
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


# ---- helpers ----------------------------------------------------------------------------------
def _respond(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status, body, *rest = result
    if status == 204:
        return Response(status=204)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    for key, value in (rest[0] if rest else {}).items():
        response.headers[key] = value
    return response


def _converter(op: Operation, name: str) -> str:
    schema = op.path_params.get(name, {})
    return f"<int:{name}>" if schema.get("type") == "integer" else f"<{name}>"


def _alternative(schema: dict[str, Any], body: Any) -> dict[str, Any]:
    """For a oneOf body (single message or bulk), the alternative whose required fields the body
    has, so the errors are about that shape and not "matches none of the alternatives"."""
    if "oneOf" not in schema:
        return schema
    if isinstance(body, dict):
        for option in schema["oneOf"]:
            if set(option.get("required", ())) <= set(body):
                return option
    return schema["oneOf"][0]


def number_of(call: Call, raw: str, field: str) -> str:
    """A phone number from the request in E.164 (national ones in the gateway's region), or a 422
    naming the field."""
    from gateway.core.numbers import normalise

    try:
        return normalise(raw, call.ctx.queue.default_region)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None


def paginate(call: Call, query: Any, id_column: Any,
             to_dict: Callable[[Session, Any], dict[str, Any]]) -> tuple[int, Any]:
    """Run a newest-first list query one page at a time (`limit`, `cursor` from the query string)."""
    limit = call.query["limit"]
    query = query.order_by(id_column.desc()).limit(limit + 1)
    before = decode_cursor(call.query.get("cursor"))
    if before is not None:
        query = query.where(id_column < before)
    with call.ctx.sessions() as session:
        rows = session.scalars(query).all()
        page, more = rows[:limit], len(rows) > limit
        items = [to_dict(session, row) for row in page]
    return 200, {"items": items, "next_cursor": encode_cursor(page[-1].id) if more else None}


def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        kind, _, number = raw.partition(":")
        value = int(number)
        if kind != "before" or not 1 <= value <= MAX_ID:
            raise ValueError
        return value
    except ValueError:
        raise invalid("cursor", "is not a cursor this API gave out") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("must be true or false")
        return text == "true"
    return text


def parse_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time; one without a zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("must be a date-time like 2026-01-31T09:30:00Z") from None


MAX_ERRORS = 5000  # field errors in one answer: every item of a full bulk, several fields each


def field_order(error: dict[str, str]) -> list[Any]:
    """Sort key: messages[2].to before messages[10].sim (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", error["field"])]


def invalid_all(errors: list[dict[str, str]]) -> ApiError:
    """A 422 naming every field in `errors`, in field order."""
    errors = sorted(errors, key=field_order)[:MAX_ERRORS]
    return ApiError(422, _summary(errors), errors=errors)


def _summary(errors: list[dict[str, str]]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['field']}: {first['message']}{more}"


def field_errors(validator: Draft202012Validator, instance: Any) -> list[dict[str, str]]:
    """JSON Schema errors as [{"field": "messages[3].to", "message": "..."}], in field order, at
    most MAX_ERRORS."""
    errors: list[dict[str, str]] = []
    for error in validator.iter_errors(instance):
        errors.extend(_describe(error))
        if len(errors) >= MAX_ERRORS:
            break
    errors.sort(key=field_order)
    return errors[:MAX_ERRORS]


def _describe(error: ValidationError) -> list[dict[str, str]]:
    where = _field(error.absolute_path)
    value, instance = error.validator_value, error.instance
    kind = error.validator
    if kind == "required" and isinstance(instance, dict):
        return [{"field": _join(where, name), "message": "is required"} for name in value if name not in instance]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        return [{"field": _join(where, str(name)), "message": "unknown field"} for name in instance if name not in known]
    messages = {
        "type": lambda: f"must be {_type_words(value)}",
        "minLength": lambda: "must not be empty" if value == 1 else f"must be at least {value} characters",
        "maxLength": lambda: f"must be at most {value} characters",
        "enum": lambda: "must be one of " + ", ".join(str(v) for v in value),
        "const": lambda: f"must be {value!r}",
        "minimum": lambda: f"must be at least {value}",
        "maximum": lambda: f"must be at most {value}",
        "exclusiveMinimum": lambda: f"must be more than {value}",
        "exclusiveMaximum": lambda: f"must be less than {value}",
        "minItems": lambda: f"must have at least {value} item{'s' if value != 1 else ''}",
        "maxItems": lambda: f"must have at most {value} items",
        "uniqueItems": lambda: "must not repeat an item",
        "pattern": lambda: "has the wrong format",
        "minProperties": lambda: "must not be empty",
    }
    message = messages[kind]() if kind in messages else error.message[:200]
    return [{"field": where or "(body)", "message": message}]


def _field(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_words(value: Any) -> str:
    names = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
             "object": "an object", "array": "a list", "null": "null"}
    if isinstance(value, list):
        return " or ".join(names.get(v, v) for v in value)
    return names.get(value, str(value))


def install_errors(app: Flask) -> None:
    """HTTP errors under /api become problem+json too (unknown route, wrong method, body too large)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if not request.path.startswith(PREFIX):
            return exc.get_response()
        status = exc.code or 500
        detail = {
            404: f"no such resource: {request.path}",
            405: f"{request.method} is not allowed here",
            413: f"the body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }.get(status, exc.description or TITLES.get(status, "error"))
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return problem(status, detail, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "the gateway failed to handle this request; it is logged")
