"""/inbound: SMS received by the modems, one per message however many parts it came in (joined by the
inbound pipeline), with the contact it came from and the keyword it matched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.numbers import normalise
from gateway.inbound.models import InboundMessage
from web.api.core import Api, Call, found
from web.api.messages import iso
from web.api.paging import paginate
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP

NULLABLE_STR = {"type": ["string", "null"]}
INBOUND_PROPERTIES: dict[str, Any] = {
    "id": ID, "sim": {"type": "string", "description": "the SIM it came in on"}, "from": NULLABLE_STR,
    "text": {"type": "string"}, "parts": {"type": "integer"}, "parts_expected": {"type": "integer"},
    "complete": {"type": "boolean", "description": "false: stored after the reassembly timeout with parts missing"},
    "contact_id": {"type": ["integer", "null"]}, "keyword": NULLABLE_STR,
    "sent_at": NULLABLE_TIMESTAMP, "received_at": TIMESTAMP,
    "error": {**NULLABLE_STR, "description": "why a part could not be decoded, if one could not"},
}
INBOUND = {"type": "object", "required": list(INBOUND_PROPERTIES), "properties": INBOUND_PROPERTIES}


def register(api: Api) -> None:
    @api.listing("/inbound", summary="Received SMS, newest first", tag="inbound", item=INBOUND, items="received SMS",
                 filters={"since": {**TIMESTAMP, "description": "received at or after"},
                          "from": {"type": "string", "minLength": 1, "maxLength": 32},
                          "sim": {"type": "string", "maxLength": 64}})
    def list_inbound(call: Call) -> tuple[int, Any]:
        q = call.query
        query = select(InboundMessage)
        if "since" in q:
            query = query.where(InboundMessage.received_at >= q["since"])
        if "from" in q:
            try:
                sender = normalise(q["from"], call.ctx.queue.default_region)
            except ValueError:
                sender = q["from"]  # alphanumeric senders ("BANK") are matched as written
            query = query.where(InboundMessage.sender == sender)
        if "sim" in q:
            query = query.where(InboundMessage.modem == q["sim"])
        return paginate(call, query, InboundMessage.id, inbound_dict)

    @api.operation("GET", "/inbound/{inbound_id}", summary="One received SMS", tag="inbound", scopes=("read",),
                   path_params={"inbound_id": ID}, responses={200: ("the SMS", INBOUND)})
    def get_inbound(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            message = found(session, InboundMessage, call.path["inbound_id"], "inbound message")
            return 200, inbound_dict(session, message)


def inbound_dict(_session: Session, m: InboundMessage) -> dict[str, Any]:
    return {"id": m.id, "sim": m.modem, "from": m.sender, "text": m.text, "parts": m.parts,
            "parts_expected": m.parts_expected, "complete": m.complete, "contact_id": m.contact_id,
            "keyword": m.keyword, "sent_at": iso(m.sent_at), "received_at": iso(m.received_at), "error": m.error}
