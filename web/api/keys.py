"""/keys: API keys (admin). The token and its signing secret are in the creation answer only."""

from __future__ import annotations

from typing import Any

from gateway.apikeys import keys
from web.api.core import Api, Call
from web.api.problems import ApiError, invalid
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP

SCOPES = {"type": "array", "minItems": 1, "uniqueItems": True,
          "items": {"type": "string", "enum": list(keys.SCOPES)}}
KEY_IN = {"type": "object", "additionalProperties": False, "required": ["name", "scopes"],
          "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S",
                                   "examples": ["web shop"]}, "scopes": SCOPES}}
KEY_PROPERTIES: dict[str, Any] = {
    "id": ID, "name": {"type": "string"}, "prefix": {"type": "string"}, "scopes": SCOPES,
    "created_at": TIMESTAMP, "last_used_at": NULLABLE_TIMESTAMP, "revoked_at": NULLABLE_TIMESTAMP,
}
KEY = {"type": "object", "required": list(KEY_PROPERTIES), "properties": KEY_PROPERTIES}
NEW_KEY = {"type": "object", "required": [*KEY_PROPERTIES, "token", "signing_secret"], "properties": {
    **KEY_PROPERTIES,
    "token": {"type": "string", "description": "the key itself: shown this once"},
    "signing_secret": {"type": "string", "description": "verifies webhooks sent to this key's callback_url"}}}


def register(api: Api) -> None:
    @api.operation("POST", "/keys", summary="Create an API key", tag="keys", scopes=("admin",), body=KEY_IN,
                   idempotent=True, responses={201: ("the key, with its token (shown once)", NEW_KEY)})
    def create_key(call: Call) -> tuple[int, Any]:
        if not call.body["name"].strip():
            raise invalid("name", "must not be blank")
        new = keys.create(call.ctx.sessions, call.ctx.clock, call.body["name"], call.body["scopes"])
        return 201, {**new.info.as_dict(), "token": new.token, "signing_secret": new.signing_secret}

    @api.operation("GET", "/keys", summary="API keys (never their tokens)", tag="keys", scopes=("admin",),
                   responses={200: ("every key", {"type": "object", "required": ["items"],
                                                  "properties": {"items": {"type": "array", "items": KEY}}})})
    def list_keys(call: Call) -> tuple[int, Any]:
        return 200, {"items": [k.as_dict() for k in keys.list_keys(call.ctx.sessions)]}

    @api.operation("GET", "/keys/{key_id}", summary="One API key", tag="keys", scopes=("admin",),
                   path_params={"key_id": ID}, responses={200: ("the key", KEY)})
    def get_key(call: Call) -> tuple[int, Any]:
        key = keys.get(call.ctx.sessions, call.path["key_id"])
        if key is None:
            raise ApiError(404, f"no key {call.path['key_id']}")
        return 200, key.as_dict()

    @api.operation("DELETE", "/keys/{key_id}", summary="Revoke an API key (kept for the record)", tag="keys",
                   scopes=("admin",), path_params={"key_id": ID}, responses={200: ("the revoked key", KEY)})
    def revoke_key(call: Call) -> tuple[int, Any]:
        key = keys.revoke(call.ctx.sessions, call.ctx.clock, call.path["key_id"])
        if key is None:
            raise ApiError(404, f"no key {call.path['key_id']}")
        return 200, key.as_dict()
