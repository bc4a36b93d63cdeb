"""The REST API's machinery: one place that declares, checks and documents every operation.

A route module declares its operations with `api.operation(...)` (or `api.listing(...)` for a
newest-first list): method, path, scopes, the JSON Schemas of its path, query and body, and its
responses. The same declaration
- registers the Flask view,
- validates the request before the handler runs (field-level 422s, unknown fields rejected;
  web/api/validation.py),
- checks the bearer key and its scopes (web/api/auth.py), and the Idempotency-Key of a POST
  (web/api/idempotency.py),
- and becomes the operation in the OpenAPI document (web/api/openapi.py),
so the document cannot drift from the code. Errors are RFC 9457 problem details (web/api/problems.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, request
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from web.api.auth import FailureLimiter, KeyCheck
from web.api.idempotency import Idempotency
from web.api.operations import Call, Handler, Operation, run_handler
from web.api.paging import paginate
from web.api.problems import PREFIX, ApiError, invalid, problem
from web.api.schemas import CURSOR, LIMIT, page_of
from web.api.validation import (
    MAX_ERRORS, alternative, coerce, field_errors, field_order, finite_float, no_constant, parse_time, summary,
)
from web.context import WebContext


class Api:
    """Collects operations; `install` puts them on a Flask app as one blueprint."""

    def __init__(self, ctx: WebContext, *, auth_failures_per_minute: int = 10) -> None:
        self.ctx = ctx
        self.operations: list[Operation] = []
        self.limiter = FailureLimiter(ctx.clock, auth_failures_per_minute)
        self._key_check = KeyCheck(ctx, self.limiter)
        self._idempotency = Idempotency(ctx)
        self._validators: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}

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

    def listing(self, path: str, *, summary: str, tag: str, item: dict[str, Any], items: str,
                filters: dict[str, dict[str, Any]] | None = None, scopes: Iterable[str] = ("read",),
                description: str = "") -> Callable[[Handler], Handler]:
        """A newest-first list paged by `web.api.paging.paginate`: its filters, `limit` and
        `cursor`, and a page of `item` (`items` names them)."""
        return self.operation("GET", path, summary=summary, tag=tag, scopes=scopes,
                              query={**(filters or {}), "limit": LIMIT, "cursor": CURSOR},
                              responses={200: (f"a page of {items}", page_of(item))}, description=description)

    def all_rows(self, path: str, model: Any, to_dict: Callable[[Session, Any], dict[str, Any]], *, name: str,
                 summary: str, tag: str, item: dict[str, Any], items: str) -> None:
        """A listing of every row of `model`, newest first; `name` is its operation id."""
        def handler(call: Call) -> tuple[int, Any]:
            return paginate(call, select(model), model.id, to_dict)
        handler.__name__ = handler.__qualname__ = name
        self.listing(path, summary=summary, tag=tag, item=item, items=items)(handler)

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
        key = self._key_check(op.scopes) if op.scopes is not None else None
        path = self._path(op, path_values)
        query = self._query(op)
        call = Call(self.ctx, path, query, None, key)
        call.body = self._body(op, call) if op.body is not None else None
        idem = request.headers.get("Idempotency-Key") if op.idempotent and key is not None else None
        if idem is None:
            return run_handler(op, call)
        return self._idempotency.run(op, call, key, idem)

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
                    values[name] = coerce(given[0], schema)
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
            raise ApiError(422, summary(errors), errors=errors)
        for name, schema in op.query.items():
            if name not in values and "default" in schema:
                values[name] = schema["default"]
        return values

    def _body(self, op: Operation, call: Call) -> Any:
        if request.mimetype != "application/json":
            raise ApiError(415, f"send the body as application/json (got {request.mimetype or 'no content type'})")
        raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
        try:
            body = json.loads(raw, parse_constant=no_constant, parse_float=finite_float)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
        errors = field_errors(self._validator(alternative(op.body, body)), body)
        if errors and op.also_check is not None:
            faulted = {e["field"] for e in errors}
            call.body = body
            errors = sorted(errors + [e for e in op.also_check(call) if e["field"] not in faulted],
                            key=field_order)[:MAX_ERRORS]
        if errors:
            raise ApiError(422, summary(errors), errors=errors)
        return body

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """One validator per declared schema, made on first use. Keyed by the schema's id, with the
        schema kept alongside so that id can never be reused by another object while cached."""
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = self._validators[id(schema)] = (schema, Draft202012Validator(schema))
        return entry[1]


def _converter(op: Operation, name: str) -> str:
    schema = op.path_params.get(name, {})
    return f"<int:{name}>" if schema.get("type") == "integer" else f"<{name}>"


def number_of(call: Call, raw: str, field: str) -> str:
    """A phone number from the request in E.164 (national ones in the gateway's region), or a 422
    naming the field."""
    from gateway.core.numbers import normalise

    try:
        return normalise(raw, call.ctx.queue.default_region)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None


T = TypeVar("T")


def found(session: Session, model: type[T], row_id: int, what: str) -> T:
    """The row of `model` with this id, or a 404 saying "no <what> <id>"."""
    row = session.get(model, row_id)
    if row is None:
        raise ApiError(404, f"no {what} {row_id}")
    return row
