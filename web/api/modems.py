"""/modems: each modem/SIM's state, signal, operator, registration and limits used/left."""

from __future__ import annotations

from typing import Any

from web.api.core import Api, Call
from web.api.problems import ApiError

NULLABLE_STR = {"type": ["string", "null"]}
WINDOW = {"type": "object", "required": ["used", "left", "cap"],
          "properties": {"used": {"type": "integer"}, "left": {"type": "integer"}, "cap": {"type": "integer"}}}
MODEM = {
    "type": "object", "required": ["name", "state", "reason", "operator", "registration", "signal", "limits"],
    "properties": {
        "name": {"type": "string"}, "state": {"type": "string"}, "reason": NULLABLE_STR,
        "port": {"type": ["string", "null"], "description": "the serial port in use (a modem named by IMEI or ICCID is found on any)"},
        "recovery": {"type": ["string", "null"], "description": "the recovery ladder's last step while the modem is being recovered"},
        "operator": NULLABLE_STR, "registration": NULLABLE_STR,
        "signal": {"type": ["object", "null"], "properties": {
            "bars": {"type": "integer"}, "dbm": {"type": ["integer", "null"]}, "csq": {"type": ["integer", "null"]}}},
        "identity": {"type": ["object", "null"]},
        "limits": {"type": "object", "description": "per window (minute, hour, day, month): parts used, left, cap",
                   "additionalProperties": WINDOW},
        "next_slot_at": {"type": ["string", "null"], "format": "date-time",
                         "description": "earliest time the limits let this SIM send its next part"},
    },
}


def register(api: Api) -> None:
    @api.operation("GET", "/modems", summary="Modems/SIMs: health and limits used/left", tag="modems",
                   scopes=("read",), responses={200: ("every modem", {
                       "type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": MODEM}}})})
    def list_modems(call: Call) -> tuple[int, Any]:
        return 200, {"items": call.ctx.modems()}

    @api.operation("GET", "/modems/{name}", summary="One modem/SIM", tag="modems", scopes=("read",),
                   path_params={"name": {"type": "string", "minLength": 1, "maxLength": 64}},
                   responses={200: ("the modem", MODEM)})
    def get_modem(call: Call) -> tuple[int, Any]:
        for modem in call.ctx.modems():
            if modem["name"] == call.path["name"]:
                return 200, modem
        raise ApiError(404, f"no modem {call.path['name']!r}")
