"""GET /health: pass / warn / fail for the database and each modem (no key: for monitors)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from sqlalchemy import text

from gateway.sims.status import health_of
from web.api.core import Api, Call

CHECK = {"type": "object", "required": ["status", "detail"],
         "properties": {"status": {"type": "string", "enum": ["pass", "warn", "fail"]}, "detail": {"type": "string"}}}
HEALTH = {
    "type": "object", "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["pass", "warn", "fail"]},
        "checks": {"type": "object", "required": ["database", "modems"], "properties": {
            "database": CHECK,
            "modems": {"type": "array", "items": {**CHECK, "required": ["name", "status", "detail"],
                                                  "properties": {**CHECK["properties"], "name": {"type": "string"}}}}}},
    },
}
ORDER = {"pass": 0, "warn": 1, "fail": 2}


def register(api: Api) -> None:
    @api.operation("GET", "/health", summary="Health of the database and each modem", tag="meta", scopes=None,
                   response_type="application/health+json",
                   responses={200: ("pass or warn", HEALTH), 503: ("fail: the database or a modem is down", HEALTH)},
                   description="`warn`: no modems, a modem connecting, without network, weak signal or out of "
                               "limits; `fail`: the database or a modem is down.")
    def get_health(call: Call) -> Response:
        checks: dict[str, Any] = {"database": database_check(call), "modems": []}
        try:
            modems = call.ctx.modems()
        except Exception as exc:  # a monitor must get an answer whatever broke
            modems = []
            checks["modems"].append({"name": "?", "status": "fail", "detail": f"cannot read modem state: {exc}"})
        for modem in modems:
            status, detail = health_of(modem)
            checks["modems"].append({"name": modem["name"], "status": status, "detail": detail})
        statuses = [checks["database"]["status"]] + [m["status"] for m in checks["modems"]]
        if not checks["modems"]:
            statuses.append("warn")
        overall = max(statuses, key=ORDER.__getitem__)
        return Response(json.dumps({"status": overall, "checks": checks}), status=503 if overall == "fail" else 200,
                        mimetype="application/health+json")


def database_check(call: Call) -> dict[str, str]:
    try:
        with call.ctx.sessions() as session:
            session.execute(text("SELECT 1"))
        return {"status": "pass", "detail": "reachable"}
    except Exception as exc:
        return {"status": "fail", "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
