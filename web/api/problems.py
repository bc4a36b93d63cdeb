"""Errors as RFC 9457 problem details: `ApiError` raised by handlers and the machinery, and the
HTTP errors Flask itself raises under /api (unknown route, wrong method, body too large)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"

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
    text = json.dumps(body, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate from the request (an unknown field's name): escaped
        text = json.dumps(body)
    response = Response(text, status=status, mimetype=PROBLEM)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response



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
