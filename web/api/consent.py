"""/consent: opt-outs and opt-ins recorded in the ledger through gateway.audience (so webhooks hear
them and double opt-in applies), a number's history, and the opt-out list.

Writes need the `send` scope: a web shop's sign-up form or a till records consent as it happens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.audience import contacts
from gateway.audience.models import Contact
from gateway.consent import ledger
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource
from gateway.consent.optin import OptInRefused
from web.api.contacts import NUMBER, contact_dict, event_dict
from web.api.core import Api, Call, number_of
from web.api.messages import iso
from web.api.paging import paginate
from web.api.problems import ApiError, invalid
from web.api.schemas import ID, TIMESTAMP

API_SOURCES = sorted(ConsentSource.VALUES - ConsentSource.FROM_HANDSET)  # an SMS keyword comes from a handset
DETAIL = {"type": "string", "minLength": 1, "maxLength": 1000,
          "description": "proof or context: the form, the staff member, the signed paper's reference"}
CHANGE_IN: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["number"],
    "properties": {"number": NUMBER, "source": {"type": "string", "enum": API_SOURCES, "default": "api"},
                   "detail": DETAIL},
}
OPT_OUT_IN = {**CHANGE_IN, "properties": {
    **CHANGE_IN["properties"],
    "scope": {"type": "string", "enum": sorted(ConsentScope.VALUES), "default": "marketing",
              "description": "marketing (STOP) or all (STOPALL: nothing at all)"}}}
EVENT = {"type": "object", "required": ["id", "kind", "scope", "source", "at"], "properties": {
    "id": ID, "kind": {"type": "string", "enum": sorted(ConsentKind.ALL)}, "scope": {"type": "string"},
    "source": {"type": "string"}, "at": TIMESTAMP, "detail": {"type": ["string", "null"]},
    "inbound_message_id": {"type": ["integer", "null"]}}}
OUTCOME = {"type": "object", "required": ["contact", "event"], "properties": {
    "contact": {"type": "object"}, "event": EVENT,
    "confirmation_message_id": {"type": ["integer", "null"],
                                "description": "the \"Reply YES to confirm\" SMS, when the opt-in asked just "
                                               "now (null: a request still open was not sent again)"}}}
REQUESTED = {"type": "object", "required": ["contact", "event", "consent", "detail", "confirmation_message_id"],
             "properties": {**OUTCOME["properties"],
                            "consent": {"type": "string", "enum": ["requested"],
                                        "description": "asked, not granted: consent starts with the customer's YES"},
                            "detail": {"type": "string", "description": "why it only asked"}}}
HISTORY = {"type": "object", "required": ["number", "consent", "events"], "properties": {
    "number": {"type": "string"}, "consent": {"type": "string"}, "events": {"type": "array", "items": EVENT}}}
OPT_OUT_ROW = {"type": "object", "required": ["contact_id", "number", "scope", "source", "at"], "properties": {
    "id": ID, "contact_id": ID, "number": {"type": "string"}, "scope": {"type": "string"},
    "source": {"type": "string"}, "at": TIMESTAMP, "detail": {"type": ["string", "null"]}}}


def register(api: Api) -> None:
    @api.operation("POST", "/consent/opt-out", summary="Record an opt-out (STOP) for a number", tag="consent",
                   scopes=("send",), body=OPT_OUT_IN, idempotent=True,
                   description="Takes effect at once: marketing already queued for the number is suppressed "
                               "when its turn comes. Unknown numbers become contacts.",
                   responses={201: ("recorded", OUTCOME)})
    def opt_out(call: Call) -> tuple[int, Any]:
        number = number_of(call, call.body["number"], "number")
        outcome = call.ctx.audience.opt_out(number, source=call.body.get("source", "api"),
                                            scope=call.body.get("scope", ConsentScope.MARKETING),
                                            detail=call.body.get("detail"))
        return 201, _outcome(call, outcome)

    @api.operation("POST", "/consent/opt-in", summary="Record an opt-in for a number", tag="consent",
                   scopes=("send",), body=CHANGE_IN, idempotent=True,
                   description="After the customer's own opt-out, and always with double opt-in configured, "
                               "this only records a request and texts \"Reply YES to confirm\" (202, consent "
                               "`requested`): only the customer's YES grants consent. While a request sent within "
                               "`ledger.confirm_within_days` is unanswered, a further opt-in texts nothing: 202 "
                               "with that request's event, no `confirmation_message_id`, and a detail saying when "
                               "it was sent.",
                   conflict="the customer asked for no messages at all (STOPALL): a confirmation request would "
                            "not reach them, so none is sent; only their own START opts them in again",
                   responses={201: ("opted in", OUTCOME), 202: ("asked: consent starts with the customer's YES", REQUESTED)})
    def opt_in(call: Call) -> tuple[int, Any]:
        number = number_of(call, call.body["number"], "number")
        try:
            outcome = call.ctx.audience.opt_in(number, source=call.body.get("source", "api"),
                                               detail=call.body.get("detail"))
        except OptInRefused as exc:
            raise ApiError(409, f"not recorded: {exc}") from None
        if outcome.requested:
            said = "confirmation requested" if outcome.confirmation_id is not None else "no new request"
            return 202, {**_outcome(call, outcome), "consent": "requested",
                         "detail": f"{said}, not opted in: {outcome.reason}"}
        return 201, _outcome(call, outcome)

    @api.operation("GET", "/consent", summary="A number's consent and its whole ledger", tag="consent",
                   scopes=("read",), query={"number": {**NUMBER, "description": "required"}},
                   responses={200: ("the history, oldest first", HISTORY)})
    def history(call: Call) -> tuple[int, Any]:
        if "number" not in call.query:
            raise invalid("number", "is required")
        number = number_of(call, call.query["number"], "number")
        with call.ctx.sessions() as session:
            contact = contacts.find(session, number)
            if contact is None:
                raise ApiError(404, f"no contact with number {number}")
            return 200, {"number": number, "consent": ledger.state_of(session, contact.id).status,
                         "events": [event_dict(e) for e in ledger.history(session, contact.id)]}

    @api.listing("/opt-outs", summary="Numbers whose newest decision is an opt-out, newest first", tag="consent",
                 item=OPT_OUT_ROW, items="opt-outs")
    def opt_outs(call: Call) -> tuple[int, Any]:
        latest = ledger.latest_decisions().subquery()
        query = (select(ConsentEvent).join(latest, latest.c.event_id == ConsentEvent.id)
                 .where(ConsentEvent.kind == ConsentKind.OPT_OUT))
        return paginate(call, query, ConsentEvent.id, _opt_out_row)


def _outcome(call: Call, outcome: Any) -> dict[str, Any]:
    with call.ctx.sessions() as session:
        contact = session.get(Contact, outcome.contact.id)
        assert contact is not None
        return {"contact": contact_dict(session, contact), "event": event_dict(outcome.event),
                "confirmation_message_id": outcome.confirmation_id}


def _opt_out_row(session: Any, event: ConsentEvent) -> dict[str, Any]:
    number = session.scalar(select(Contact.number).where(Contact.id == event.contact_id))
    return {"id": event.id, "contact_id": event.contact_id, "number": number, "scope": event.scope,
            "source": event.source, "at": iso(event.at), "detail": event.detail}
