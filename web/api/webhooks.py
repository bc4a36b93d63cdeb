"""/webhooks: endpoints (admin), the delivery log with every attempt, and manual replay."""

from __future__ import annotations

from typing import Any

from datetime import timedelta

from gateway.webhooks.endpoints import ReplayRefused
from gateway.webhooks.models import DeliveryStatus
from gateway.webhooks.outbox import EVENTS
from web.api.core import Api, Call
from web.api.messages import url_problem
from web.api.paging import decode_cursor, encode_cursor
from web.api.problems import ApiError
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP

NULLABLE_STR = {"type": ["string", "null"]}
URL = {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000}
EVENT_LIST = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "enum": list(EVENTS)}}
ENDPOINT_IN = {
    "type": "object", "additionalProperties": False, "required": ["url", "events"],
    "properties": {
        "url": URL, "events": EVENT_LIST,
        "secret": {"type": "string", "minLength": 16, "maxLength": 80,
                   "description": "HMAC key; generated when not given"},
        "description": {"type": "string", "maxLength": 200},
        "active": {"type": "boolean", "default": True},
    },
}
ENDPOINT_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"url": URL, "events": EVENT_LIST, "description": {"type": "string", "maxLength": 200},
                   "active": {"type": "boolean"}},
}
ENDPOINT_PROPERTIES: dict[str, Any] = {
    "id": ID, "url": {"type": "string"}, "events": {"type": "array", "items": {"type": "string"}},
    "description": NULLABLE_STR, "active": {"type": "boolean"}, "created_at": TIMESTAMP,
    "previous_secret_valid_until": {**NULLABLE_TIMESTAMP, "description": "after a secret rotation: the old "
                                    "secret signs too (a second signature) until then"},
}
ENDPOINT = {"type": "object", "required": list(ENDPOINT_PROPERTIES), "properties": ENDPOINT_PROPERTIES}
NEW_ENDPOINT = {"type": "object", "required": [*ENDPOINT_PROPERTIES, "secret"],
                "properties": {**ENDPOINT_PROPERTIES, "secret": {"type": "string"}}}
DELIVERY_PROPERTIES: dict[str, Any] = {
    "id": ID, "event_id": {"type": "string"}, "event_type": {"type": "string"},
    "endpoint_id": {"type": ["integer", "null"]}, "url": {"type": "string"},
    "status": {"type": "string", "enum": list(DeliveryStatus.ALL)}, "attempts": {"type": "integer"},
    "next_attempt_at": NULLABLE_TIMESTAMP, "last_error": NULLABLE_STR, "message_id": {"type": ["integer", "null"]},
    "replay_of": {"type": ["integer", "null"]}, "created_at": TIMESTAMP, "delivered_at": NULLABLE_TIMESTAMP,
}
DELIVERY = {"type": "object", "required": list(DELIVERY_PROPERTIES), "properties": DELIVERY_PROPERTIES}
DELIVERY_DETAIL = {
    "type": "object", "required": [*DELIVERY_PROPERTIES, "payload", "attempt_log"],
    "properties": {**DELIVERY_PROPERTIES, "payload": {"type": "object"},
                   "attempt_log": {"type": "array", "items": {"type": "object", "properties": {
                       "at": TIMESTAMP, "http_status": {"type": ["integer", "null"]}, "error": NULLABLE_STR,
                       "duration_ms": {"type": "integer"}}}}},
}
ROTATE_IN = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "grace_seconds": {"type": "integer", "minimum": 0, "maximum": 30 * 86400, "default": 86400,
                          "description": "how long the old secret still signs (a second signature)"},
        "secret": {"type": "string", "minLength": 16, "maxLength": 80, "description": "generated when not given"},
    },
}
ENDPOINT_ID = {"endpoint_id": ID}
DELIVERY_ID = {"delivery_id": ID}


def register(api: Api) -> None:
    @api.operation("POST", "/webhooks", summary="Register a webhook endpoint", tag="webhooks", scopes=("admin",),
                   body=ENDPOINT_IN, idempotent=True,
                   responses={201: ("the endpoint, with its signing secret (shown once)", NEW_ENDPOINT)})
    def create_webhook(call: Call) -> tuple[int, Any]:
        _check_url(call, call.body["url"])
        return 201, call.ctx.webhooks.create_endpoint(
            call.body["url"], call.body["events"], secret=call.body.get("secret"),
            description=call.body.get("description"), active=call.body.get("active", True))

    @api.operation("GET", "/webhooks", summary="Webhook endpoints", tag="webhooks", scopes=("admin",),
                   responses={200: ("every endpoint", {"type": "object", "required": ["items"],
                                                       "properties": {"items": {"type": "array", "items": ENDPOINT}}})})
    def list_webhooks(call: Call) -> tuple[int, Any]:
        return 200, {"items": call.ctx.webhooks.list_endpoints()}

    @api.operation("GET", "/webhooks/{endpoint_id}", summary="One webhook endpoint", tag="webhooks",
                   scopes=("admin",), path_params=ENDPOINT_ID, responses={200: ("the endpoint", ENDPOINT)})
    def get_webhook(call: Call) -> tuple[int, Any]:
        return 200, _found(call.ctx.webhooks.get_endpoint(call.path["endpoint_id"]), "endpoint", call.path["endpoint_id"])

    @api.operation("PATCH", "/webhooks/{endpoint_id}", summary="Change an endpoint's URL, events or state",
                   tag="webhooks", scopes=("admin",), path_params=ENDPOINT_ID, body=ENDPOINT_PATCH,
                   description="Pending deliveries follow: their next attempt goes to the new URL; "
                               "`active: false` cancels them (replay them once it is active again).",
                   responses={200: ("the endpoint", ENDPOINT)})
    def update_webhook(call: Call) -> tuple[int, Any]:
        if "url" in call.body:
            _check_url(call, call.body["url"])
        return 200, _found(call.ctx.webhooks.update_endpoint(call.path["endpoint_id"], call.body),
                           "endpoint", call.path["endpoint_id"])

    @api.operation("POST", "/webhooks/{endpoint_id}/rotate-secret", summary="Give an endpoint a new signing secret",
                   tag="webhooks", scopes=("admin",), path_params=ENDPOINT_ID, body=ROTATE_IN,
                   description="The old secret keeps signing for `grace_seconds` (default a day): each "
                               "delivery then carries two signatures, the new one first, so the receiver "
                               "can switch to the new secret at any time in between.",
                   responses={200: ("the endpoint, with its new secret (shown once)", NEW_ENDPOINT)})
    def rotate_webhook_secret(call: Call) -> tuple[int, Any]:
        grace = timedelta(seconds=call.body.get("grace_seconds", 86400))
        return 200, _found(call.ctx.webhooks.rotate_secret(call.path["endpoint_id"], grace=grace,
                                                           secret=call.body.get("secret")),
                           "endpoint", call.path["endpoint_id"])

    @api.operation("DELETE", "/webhooks/{endpoint_id}", summary="Delete an endpoint (its pending deliveries stop)",
                   tag="webhooks", scopes=("admin",), path_params=ENDPOINT_ID,
                   responses={204: ("deleted", None)})
    def delete_webhook(call: Call) -> tuple[int, Any]:
        if not call.ctx.webhooks.delete_endpoint(call.path["endpoint_id"]):
            raise ApiError(404, f"no endpoint {call.path['endpoint_id']}")
        return 204, None

    @api.listing("/webhooks/deliveries", summary="The delivery log, newest first", tag="webhooks", scopes=("admin",),
                 item=DELIVERY, items="deliveries",
                 filters={"endpoint_id": ID, "message_id": ID, "status": {"type": "string", "enum": list(DeliveryStatus.ALL)}})
    def list_deliveries(call: Call) -> tuple[int, Any]:
        q = call.query
        rows = call.ctx.webhooks.deliveries(endpoint_id=q.get("endpoint_id"), status=q.get("status"),
                                            message_id=q.get("message_id"), before=decode_cursor(q.get("cursor")),
                                            limit=q["limit"] + 1)
        page, more = rows[:q["limit"]], len(rows) > q["limit"]
        return 200, {"items": page, "next_cursor": encode_cursor(page[-1]["id"]) if more else None}

    @api.operation("GET", "/webhooks/deliveries/{delivery_id}", summary="One delivery with its payload and every attempt",
                   tag="webhooks", scopes=("admin",), path_params=DELIVERY_ID,
                   responses={200: ("the delivery", DELIVERY_DETAIL)})
    def get_delivery(call: Call) -> tuple[int, Any]:
        return 200, _found(call.ctx.webhooks.delivery(call.path["delivery_id"]), "delivery", call.path["delivery_id"])

    @api.operation("POST", "/webhooks/deliveries/{delivery_id}/replay", summary="Send a delivery's event again",
                   tag="webhooks", scopes=("admin",), path_params=DELIVERY_ID,
                   conflict="the event is still pending for this receiver, or the receiver no longer takes it "
                            "(endpoint deleted or inactive, callback of a revoked key)",
                   responses={202: ("the new delivery", DELIVERY)})
    def replay_delivery(call: Call) -> tuple[int, Any]:
        try:
            replayed = call.ctx.webhooks.replay(call.path["delivery_id"])
        except ReplayRefused as exc:
            raise ApiError(409, str(exc)) from None
        return 202, _found(replayed, "delivery", call.path["delivery_id"])


def _check_url(call: Call, url: str) -> None:
    problem = url_problem(url, call.ctx.webhooks.policy)
    if problem:
        raise ApiError(422, f"url: {problem}", errors=[{"field": "url", "message": problem}])


def _found(value: dict[str, Any] | None, what: str, ident: int) -> dict[str, Any]:
    if value is None:
        raise ApiError(404, f"no {what} {ident}")
    return value
