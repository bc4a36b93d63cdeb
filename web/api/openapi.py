"""The OpenAPI 3.1 document, built from the same operation declarations that validate requests."""

from __future__ import annotations

from typing import Any

from web.api.core import Api, Call
from web.api.operations import Operation
from web.api.problems import PREFIX, PROBLEM
from web.api.schemas import PROBLEM_SCHEMA

VERSION = "1.0.0"


def register(api: Api) -> None:
    @api.operation("GET", "/openapi.json", summary="This OpenAPI 3.1 document", tag="meta", scopes=None,
                   responses={200: ("the document", {"type": "object"})})
    def get_openapi(call: Call) -> tuple[int, Any]:
        return 200, document(api)


def document(api: Api) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in api.operations:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "gsmgw REST API", "version": VERSION,
                 "description": "Send SMS through the gateway's modems, read replies, and get webhooks. "
                                "See docs/api.md."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "an API key: gsmgw apikey create --name N --scopes send,read"}},
            "schemas": {"Problem": PROBLEM_SCHEMA},
        },
        "security": [{"bearer": []}],
    }


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        doc["description"] = op.description
    if op.scopes is None:
        doc["security"] = []
    else:
        doc["description"] = (doc.get("description", "") + f"\n\nScope: {' or '.join(op.scopes)} (admin has all).").strip()
    parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                  for name, schema in op.path_params.items()]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in op.query.items()]
    if op.idempotent:
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "a retried POST with the same key returns the first response",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    responses: dict[str, Any] = {}
    for status, (description, schema) in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": description}
        if schema is not None:
            entry["content"] = {op.response_type: {"schema": schema}}
        if status in op.response_headers:
            entry["headers"] = op.response_headers[status]
        responses[str(status)] = entry
    for status, description in _errors(op).items():
        entry = {"description": description, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
        responses.setdefault(str(status), entry)
    doc["responses"] = responses
    return doc


def _errors(op: Operation) -> dict[int, str]:
    errors: dict[int, str] = {}
    if op.body is not None:
        errors[400] = "the body is not valid JSON"
    if op.scopes is not None:
        errors[401] = "no key, or a wrong or revoked one"
        errors[403] = "the key lacks the scope"
    if op.path_params:
        errors[404] = "no such resource"
    if op.conflict or op.idempotent:
        errors[409] = op.conflict or "the first request with this Idempotency-Key has not finished"
    if op.body is not None:
        errors[413] = "the body is too large"
        errors[415] = "the body is not application/json"
    if op.body is not None or op.query or op.idempotent:
        errors[422] = "a field is wrong; `errors` lists each one"
    if op.scopes is not None:
        errors[429] = "too many failed authentication attempts from this address"
    return errors
