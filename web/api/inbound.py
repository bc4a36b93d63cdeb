"""/inbound: SMS received by the modems (each part of a long SMS as it arrived)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.models import InboundPart
from gateway.numbers import normalise
from web.api.core import CURSOR, ID, LIMIT, NULLABLE_TIMESTAMP, TIMESTAMP, Api, ApiError, Call, decode_cursor, encode_cursor, page_of
from web.api.messages import iso

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
INBOUND_PROPERTIES: dict[str, Any] = {
    "id": ID, "modem": {"type": "string"}, "from": NULLABLE_STR, "text": NULLABLE_STR,
    "sent_at": NULLABLE_TIMESTAMP, "received_at": TIMESTAMP,
    "concat": {"type": ["object", "null"], "properties": {
        "reference": {"type": "integer"}, "total": NULLABLE_INT, "seq": NULLABLE_INT}},
    "error": {**NULLABLE_STR, "description": "why the PDU could not be decoded, if it could not"},
}
INBOUND = {"type": "object", "required": list(INBOUND_PROPERTIES), "properties": INBOUND_PROPERTIES}


def register(api: Api) -> None:
    @api.operation("GET", "/inbound", summary="Received SMS, newest first", tag="inbound", scopes=("read",),
                   query={"since": {**TIMESTAMP, "description": "received at or after"},
                          "from": {"type": "string", "minLength": 1, "maxLength": 32},
                          "modem": {"type": "string", "maxLength": 64}, "limit": LIMIT, "cursor": CURSOR},
                   responses={200: ("a page of received SMS", page_of(INBOUND))})
    def list_inbound(call: Call) -> tuple[int, Any]:
        q = call.query
        query = select(InboundPart).order_by(InboundPart.id.desc()).limit(q["limit"] + 1)
        if "since" in q:
            query = query.where(InboundPart.received_at >= q["since"])
        if "from" in q:
            try:
                sender = normalise(q["from"], call.ctx.queue.default_region)
            except ValueError:
                sender = q["from"]  # alphanumeric senders ("BANK") are matched as written
            query = query.where(InboundPart.sender == sender)
        if "modem" in q:
            query = query.where(InboundPart.modem == q["modem"])
        before = decode_cursor(q.get("cursor"))
        if before is not None:
            query = query.where(InboundPart.id < before)
        with call.ctx.sessions() as session:
            rows = session.scalars(query).all()
        page, more = rows[:q["limit"]], len(rows) > q["limit"]
        return 200, {"items": [inbound_dict(p) for p in page],
                     "next_cursor": encode_cursor(page[-1].id) if more else None}

    @api.operation("GET", "/inbound/{inbound_id}", summary="One received SMS", tag="inbound", scopes=("read",),
                   path_params={"inbound_id": ID}, responses={200: ("the SMS", INBOUND)})
    def get_inbound(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            part = session.get(InboundPart, call.path["inbound_id"])
            if part is None:
                raise ApiError(404, f"no inbound message {call.path['inbound_id']}")
            return 200, inbound_dict(part)


def inbound_dict(p: InboundPart) -> dict[str, Any]:
    concat = {"reference": p.concat_ref, "total": p.concat_total, "seq": p.concat_seq} if p.concat_ref is not None else None
    return {"id": p.id, "modem": p.modem, "from": p.sender, "text": p.text, "sent_at": iso(p.sent_at),
            "received_at": iso(p.received_at), "concat": concat, "error": p.error}
