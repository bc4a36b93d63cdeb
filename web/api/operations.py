"""What an operation is (its declaration) and what its handler gets and returns."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Response
from sqlalchemy.exc import IntegrityError

from gateway.apikeys import keys
from web.api.problems import ApiError
from web.context import WebContext

log = logging.getLogger("gsmgw.api")
RACED = "another request changed the same thing at the same moment; read it again, or retry"


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


def respond(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status, body, *rest = result
    if status == 204:
        return Response(status=204)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    for key, value in (rest[0] if rest else {}).items():
        response.headers[key] = value
    return response


def run_handler(op: Operation, call: Call) -> Response:
    """The handler's answer. A handler checks before it writes (a group's name is free), but on
    PostgreSQL another request may commit the same name between the check and the INSERT: the
    database's unique constraint then refuses it, and the caller gets the 409 the check would have
    given, not a 500."""
    try:
        return respond(op.handler(call))
    except IntegrityError as exc:
        log.warning("%s %s: refused by a constraint another request's commit won: %s", op.method, op.path,
                    type(exc.orig).__name__ if exc.orig is not None else "IntegrityError")
        raise ApiError(409, op.conflict or RACED) from None
