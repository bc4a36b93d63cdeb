"""/settings/sending: the sending rules in force (quiet hours, frequency cap, each SIM's limits), each
with where it comes from, and changing them as the console's /settings/limits does: the same keys,
the same validation (`gateway.settings.keys`), the same audited write (`gateway.settings.store`), so
the running workers follow at their next claim. Configuration: changes need the `admin` scope."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.settings import store
from gateway.settings.keys import (
    CONSENT_KEYS, LIMIT_FIELDS, MESSAGES, Invalid, config_sims, consent_key, defaults, sim_limit_key,
)
from web.api.core import Api, Call
from web.api.messages import iso
from web.api.problems import ApiError
from web.api.schemas import TIMESTAMP

CONSOLE, FILE = "console", "file"
SIM_NAME = "^(iccid|imsi):[0-9A-Za-z]{1,32}$"
TIME = {"type": "string", "examples": ["21:00"], "description": "HH:MM in each contact's own zone"}
COUNT = {"type": "integer", "description": "parts (messages for the cap); 0: no cap"}
CONSENT_TYPES: dict[str, dict[str, Any]] = {
    "quiet_hours_start": TIME, "quiet_hours_end": TIME,
    "frequency_cap": {"type": "integer", "description": "marketing messages per number in `frequency_days`; 0: none"},
    "frequency_days": {"type": "number", "description": "the frequency cap's window in days"},
}
NULLABLE = {"description": "null: back to the config file's value"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"], "description": f"{schema['description']}; {NULLABLE['description']}"}


SENDING_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "description": "Only the values to change; null sets one back to the config file's value.",
    "properties": {
        "consent": {"type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {k: _nullable(CONSENT_TYPES[k]) for k in CONSENT_KEYS}},
        "sims": {"type": "object", "additionalProperties": False, "minProperties": 1,
                 "description": "by SIM as GET names it (iccid:… or imsi:…); only SIMs with limits in the file",
                 "patternProperties": {SIM_NAME: {
                     "type": "object", "additionalProperties": False, "minProperties": 1,
                     "properties": {f: _nullable(COUNT) for f in LIMIT_FIELDS}}}},
    },
}


def _setting(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["value", "source", "file_value", "changed_by", "changed_at"],
            "properties": {"value": value, "source": {"type": "string", "enum": [FILE, CONSOLE]},
                           "file_value": value, "changed_by": {"type": ["string", "null"]},
                           "changed_at": {**TIMESTAMP, "type": ["string", "null"]}}}


SENDING = {
    "type": "object", "required": ["consent", "sims"],
    "properties": {
        "consent": {"type": "object", "required": list(CONSENT_KEYS),
                    "properties": {k: _setting(v) for k, v in CONSENT_TYPES.items()}},
        "sims": {"type": "object", "additionalProperties": {
            "type": "object", "required": list(LIMIT_FIELDS),
            "properties": {f: _setting(COUNT) for f in LIMIT_FIELDS}}},
    },
}


def register(api: Api) -> None:
    @api.operation("GET", "/settings/sending", summary="The sending rules in force", tag="settings",
                   scopes=("read",), responses={200: ("each rule's value in force and its source", SENDING)},
                   description="Quiet hours, the frequency cap and each SIM's limits (those with limits in the "
                               "config file): the config file's values unless changed in the console or here.")
    def get_sending(call: Call) -> tuple[int, Any]:
        return 200, sending_dict(call)

    @api.operation("PATCH", "/settings/sending", summary="Change the sending rules", tag="settings",
                   scopes=("admin",), body=SENDING_PATCH,
                   responses={200: ("each rule's value in force and its source", SENDING)},
                   description="Validated as the console validates them, together with the values in force (a "
                               "SIM's per-hour limit at least its per-minute one): a 422 names every bad field, "
                               "and then nothing changes. Each change is in the audit log with the key's name; "
                               "the running gateway sends by it from its next message.")
    def patch_sending(call: Call) -> tuple[int, Any]:
        actor = f"API key {call.key.name}" if call.key else None
        try:
            store.change(call.ctx.sessions, call.ctx.clock, call.ctx.config, _flat(call.body), actor=actor,
                         address=request.remote_addr)
        except Invalid as exc:
            errors = [{"field": key, "message": MESSAGES[code] % figures} for key, (code, figures) in exc.errors.items()]
            raise ApiError(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None
        return 200, sending_dict(call)


def _flat(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the settings' keys (`consent.frequency_cap`, `sims.iccid:….per_hour`), as the
    console names them; None: back to the file's value."""
    values = {consent_key(name): value for name, value in body.get("consent", {}).items()}
    values.update({sim_limit_key(sim, field): value for sim, fields in body.get("sims", {}).items()
                   for field, value in fields.items()})
    return values


def sending_dict(call: Call) -> dict[str, Any]:
    config, sessions = call.ctx.config, call.ctx.sessions
    file = defaults(config)
    overrides = {k: o for k, o in store.overrides(sessions).items() if k in file}

    def setting(key: str) -> dict[str, Any]:
        override = overrides.get(key)
        return {"value": override.value if override else file[key], "source": CONSOLE if override else FILE,
                "file_value": file[key], "changed_by": override.changed_by if override else None,
                "changed_at": iso(override.changed_at) if override else None}

    return {"consent": {name: setting(consent_key(name)) for name in CONSENT_KEYS},
            "sims": {sim: {f: setting(sim_limit_key(sim, f)) for f in LIMIT_FIELDS} for sim in config_sims(config)}}
