"""/messages: queue (one or up to 1,000), read, list, cancel."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, select
from sqlalchemy.orm import selectinload

from gateway.core.numbers import normalise
from gateway.outbound import listing
from gateway.outbound.models import Message, MessageStatus, Priority
from gateway.outbound.new_message import MAX_TEXT, NewMessage, RejectedMessage
from gateway.outbound.report_wait import message_report
from gateway.webhooks.models import MessageCallback
from gateway.webhooks.targets import TargetPolicy
from web.api.core import Api, Call, number_of
from web.api.paging import paginate
from web.api.problems import PREFIX, ApiError
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP
from web.api.validation import invalid_all

MAX_BULK = 1000
MAX_EXPIRES_IN = 30 * 86400

MESSAGE_IN = {
    "type": "object", "additionalProperties": False, "required": ["to"],
    "description": "`text`, or `template` (a name from /templates) with its `variables`: one of the two",
    "properties": {
        "to": {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["+447700900123", "07700 900123"],
               "description": "E.164 (+447700900123) or national (07700 900123, in the gateway's default region)"},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "examples": ["Your code is 123456"]},
        "template": {"type": "string", "minLength": 1, "maxLength": 100, "examples": ["otp"],
                     "description": "send this template instead of `text`; its kind is the default `kind`, "
                                    "and a marketing template cannot be sent as transactional"},
        "variables": {"type": "object", "maxProperties": 50,
                      "additionalProperties": {"type": ["string", "number", "boolean"], "maxLength": 1600},
                      "description": "values for the template's placeholders; the recipient's contact "
                                     "supplies {name}, {first_name} and its custom fields otherwise"},
        "priority": {"type": "string", "enum": ["high", "normal", "bulk"], "default": "normal"},
        "kind": {"type": "string", "enum": ["transactional", "marketing"], "default": "transactional"},
        "sim": {"type": "string", "minLength": 1, "maxLength": 64, "description": "send from this SIM only"},
        "expires_in": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_EXPIRES_IN,
                       "description": "seconds; not sent after that (status expired)"},
        "callback_url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000,
                         "description": "gets this message's message.status webhooks, signed with the key's signing secret"},
    },
}
BULK_IN = {
    "type": "object", "additionalProperties": False, "required": ["messages"],
    "properties": {"messages": {"type": "array", "minItems": 1, "maxItems": MAX_BULK, "items": MESSAGE_IN}},
}
ACCEPTED = {
    "type": "object", "required": ["id", "status", "to", "segments", "encoding"],
    "properties": {"id": ID, "status": {"type": "string"}, "to": {"type": "string"},
                   "segments": {"type": "integer"}, "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]}},
}
BULK_ACCEPTED = {"type": "object", "required": ["messages"],
                 "properties": {"messages": {"type": "array", "items": ACCEPTED}}}
STATUS = {"type": "string", "enum": sorted(MessageStatus.ALL)}
NULLABLE_STR = {"type": ["string", "null"]}
SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": ID, "to": {"type": "string"}, "text": {"type": "string"}, "status": STATUS,
    "priority": {"type": "string"}, "kind": {"type": "string"}, "encoding": {"type": "string"},
    "segments": {"type": "integer"}, "sim": NULLABLE_STR, "sim_requested": NULLABLE_STR,
    "source": {"type": "string"}, "attempts": {"type": "integer"}, "last_error": NULLABLE_STR,
    "campaign_id": {"type": ["integer", "null"], "description": "the campaign that queued it"},
    "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "expires_at": NULLABLE_TIMESTAMP,
    "sent_at": NULLABLE_TIMESTAMP, "finished_at": NULLABLE_TIMESTAMP,
}
SUMMARY = {"type": "object", "required": list(SUMMARY_PROPERTIES), "properties": SUMMARY_PROPERTIES}
REPORTS = ["awaiting", "none", "delivered", "failed"]
DETAIL = {
    "type": "object", "required": [*SUMMARY_PROPERTIES, "parts", "events", "callback_url", "report"],
    "properties": {
        **SUMMARY_PROPERTIES,
        "callback_url": NULLABLE_STR,
        "report": {"type": ["string", "null"], "enum": [*REPORTS, None],
                   "description": "what the status reports say: `awaiting` (a part went, its report may still "
                                  "come), `none` (no report came for a part within [reports] wait_hours, so none "
                                  "will: the message stays `sent`; a later one is still applied), `delivered`, "
                                  "`failed`; null while no part went"},
        "parts": {"type": "array", "items": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "total": {"type": "integer"}, "status": {"type": "string"},
            "modem": NULLABLE_STR, "reference": {"type": ["integer", "null"]},
            "submitted_at": NULLABLE_TIMESTAMP, "sent_at": NULLABLE_TIMESTAMP,
            "report_status": {"type": ["integer", "null"]}, "report_at": NULLABLE_TIMESTAMP, "error": NULLABLE_STR}}},
        "events": {"type": "array", "items": {"type": "object", "properties": {
            "status": {"type": "string"}, "part_seq": {"type": ["integer", "null"]}, "at": TIMESTAMP,
            "detail": NULLABLE_STR}}},
    },
}
MESSAGE_ID = {"message_id": ID}


def register(api: Api) -> None:
    @api.operation("POST", "/messages", summary="Queue a message, or up to 1,000 (`{\"messages\": [...]}`)",
                   tag="messages", scopes=("send",), body={"oneOf": [MESSAGE_IN, BULK_IN]}, idempotent=True,
                   responses={202: ("queued: the message, or `messages` in the order given", {"oneOf": [ACCEPTED, BULK_ACCEPTED]})},
                   description="A bulk request is checked as a whole first: one bad item rejects it all, "
                               "and one answer names every bad field of every item (`messages[3].to`).",
                   also_check=lambda call: _body_errors(call))
    def send_messages(call: Call) -> tuple[int, Any, dict[str, str]]:
        bulk = "messages" in call.body
        items, errors = _prepared(call, call.body["messages"] if bulk else [call.body], bulk)
        if errors:
            raise invalid_all(errors)
        accepted = _enqueue(call, items, bulk)
        if bulk:
            return 202, {"messages": accepted}, {}
        return 202, accepted[0], {"Location": f"{PREFIX}/messages/{accepted[0]['id']}"}

    @api.operation("GET", "/messages/{message_id}", summary="A message with its parts and every state change",
                   tag="messages", scopes=("read",), path_params=MESSAGE_ID,
                   responses={200: ("the message", DETAIL)})
    def get_message(call: Call) -> tuple[int, Any]:
        return 200, _detail(call, call.path["message_id"])

    @api.listing("/messages", summary="Messages, newest first", tag="messages", item=SUMMARY, items="messages",
                 filters={"status": STATUS, "since": {**TIMESTAMP, "description": "created at or after"},
                          "to": {"type": "string", "minLength": 1, "maxLength": 32}, "sim": {"type": "string", "maxLength": 64},
                          "kind": {"type": "string", "enum": ["transactional", "marketing"]},
                          "campaign_id": {**ID, "description": "only this campaign's messages"}})
    def list_messages(call: Call) -> tuple[int, Any]:
        q = call.query
        filters = listing.Filters(status=q.get("status"), since=q.get("since"),
                                  to_number=number_of(call, q["to"], "to") if "to" in q else None,
                                  sim=q.get("sim"), kind=q.get("kind"), campaign_id=q.get("campaign_id"))
        return paginate(call, listing.query(filters), Message.id, lambda _session, m: summary(m))

    @api.operation("DELETE", "/messages/{message_id}", summary="Cancel a message that has not started sending",
                   tag="messages", scopes=("send",), path_params=MESSAGE_ID,
                   conflict="too late: the message is being sent or has finished",
                   responses={200: ("cancelled; the message", DETAIL)})
    def cancel_message(call: Call) -> tuple[int, Any]:
        message_id = call.path["message_id"]
        if not call.ctx.queue.cancel(message_id):
            message = call.ctx.queue.get(message_id)
            if message is None:
                raise ApiError(404, f"no message {message_id}")
            if message.status != MessageStatus.CANCELLED:
                raise ApiError(409, f"message {message_id} is {message.status}: too late to cancel")
        return 200, _detail(call, message_id)


def _enqueue(call: Call, items: list[dict[str, Any]], bulk: bool) -> list[dict[str, Any]]:
    """Store the items, all or none (one transaction, consecutive ids)."""
    key_id = call.key.id if call.key else None

    def callbacks(conn: Connection, messages: list[NewMessage]) -> None:
        call.ctx.webhooks.store_callbacks(conn, [(message.id, item["callback_url"], key_id) for item, message
                                                 in zip(items, messages, strict=True) if item.get("callback_url")])

    try:
        messages = call.ctx.queue.enqueue_many(items, source="api", along=callbacks)
    except RejectedMessage as exc:  # _check saw everything enqueue checks; kept as a backstop
        name = f"messages[{exc.index}].{exc.field}" if bulk else exc.field
        raise ApiError(422, f"{name}: {exc.reason}", errors=[{"field": name, "message": exc.reason}]) from None
    return [{"id": m.id, "status": m.status, "to": m.to_number, "segments": m.segments, "encoding": m.encoding}
            for m in messages]


def _body_errors(call: Call) -> list[dict[str, str]]:
    """The checks after the schema, for a body that failed it: whatever items are objects are
    checked as far as their fields have the right types, so one answer names every bad field."""
    body = call.body
    if not isinstance(body, dict):
        return []
    bulk = "messages" in body
    items = body["messages"] if bulk else [body]
    if not isinstance(items, list):
        return []
    return _prepared(call, items, bulk)[1]


def _prepared(call: Call, items: list[Any], bulk: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The items with their texts, and every error Queue.enqueue would refuse them for, per item
    and field, before any is stored."""
    texts, errors = _with_texts(call, items, bulk)
    checked = {i: item for i, item in enumerate(items) if isinstance(item, dict)}
    checked.update(texts)  # an item whose text failed still has its number, SIM and URL checked
    return [item for _, item in texts], errors + _check(call, list(checked.items()), bulk)


def _with_texts(call: Call, items: list[Any], bulk: bool) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, str]]]:
    """Each item (with its index) with its `text`: given, or its template filled in (for that
    recipient's contact); and the errors of those that have neither. Fields of the wrong type are
    the schema's to report and are skipped here."""
    from gateway.audience import contacts
    from gateway.outbound.templating import MissingVariable, contact_values, render
    from web.api.templates import find

    out: list[tuple[int, dict[str, Any]]] = []
    errors: list[dict[str, str]] = []
    with call.ctx.sessions() as session:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            prefix = f"messages[{i}]." if bulk else ""
            if ("text" in item) == ("template" in item):
                errors.append({"field": prefix + "text", "message": "give either text or template"})
                continue
            if "template" not in item:
                if "variables" in item:
                    errors.append({"field": prefix + "variables", "message": "only with a template"})
                out.append((i, item))
                continue
            if not isinstance(item["template"], str) or not isinstance(item.get("variables", {}), dict):
                continue
            template = find(session, item["template"])
            if template is None:
                errors.append({"field": prefix + "template", "message": f"no template named {item['template']!r}"})
                continue
            values: dict[str, Any] = {}
            try:
                contact = contacts.find(session, normalise(item["to"], call.ctx.queue.default_region))
            except (ValueError, TypeError, KeyError):
                contact = None  # _check reports the number
            if contact is not None:
                values.update(contact_values(contact.name, contact.fields))
            values.update(item.get("variables", {}))
            try:
                text = render(template.body, values)
            except (MissingVariable, ValueError) as exc:
                errors.append({"field": prefix + "variables", "message": str(exc)})
                continue
            if len(text) > MAX_TEXT:
                errors.append({"field": prefix + "variables", "message": f"the text would be {len(text)} characters (at most {MAX_TEXT})"})
                continue
            if template.kind == "marketing" and item.get("kind", "marketing") != "marketing":
                # as transactional it would skip consent, the frequency cap and quiet hours
                errors.append({"field": prefix + "kind",
                               "message": f"template {template.name!r} is marketing: it cannot be sent as {item['kind']}"})
                continue
            filled = {k: v for k, v in item.items() if k not in ("template", "variables")}
            out.append((i, {**filled, "text": text, "kind": item.get("kind", template.kind)}))
    return out, errors


def _check(call: Call, items: list[tuple[int, dict[str, Any]]], bulk: bool) -> list[dict[str, str]]:
    """Everything Queue.enqueue would refuse, for every (index, item), as errors naming each field."""
    sims = {m["name"] for m in call.ctx.modems()} | {m.name for m in call.ctx.config.modems}
    errors: list[dict[str, str]] = []
    for i, item in items:
        prefix = f"messages[{i}]." if bulk else ""
        if isinstance(item.get("to"), str):
            try:
                normalise(item["to"], call.ctx.queue.default_region)
            except ValueError as exc:
                errors.append({"field": prefix + "to", "message": str(exc)})
        if isinstance(item.get("text"), str) and any(0xD800 <= ord(c) <= 0xDFFF for c in item["text"]):
            errors.append({"field": prefix + "text", "message": "contains an unpaired surrogate (not text)"})
        if isinstance(item.get("sim"), str) and item["sim"] not in sims:
            errors.append({"field": prefix + "sim", "message": f"no such SIM (known: {', '.join(sorted(sims)) or 'none'})"})
        if isinstance(item.get("callback_url"), str):
            problem = url_problem(item["callback_url"], call.ctx.webhooks.policy)
            if problem:
                errors.append({"field": prefix + "callback_url", "message": problem})
    return errors


def url_problem(url: str, policy: TargetPolicy) -> str | None:
    """What is wrong with a webhook or callback URL as written; where its name leads is checked
    again at every delivery (gateway.webhooks.targets)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain spaces or control characters"
    return policy.refusal_of_url(url)


def _detail(call: Call, message_id: int) -> dict[str, Any]:
    with call.ctx.sessions() as session:
        message = session.scalar(select(Message).where(Message.id == message_id).options(
            selectinload(Message.parts), selectinload(Message.events)))
        if message is None:
            raise ApiError(404, f"no message {message_id}")
        callback = session.get(MessageCallback, message_id)
        return {
            **summary(message),
            "callback_url": callback.url if callback else None,
            "report": message_report(p.status for p in message.parts),
            "parts": [{"seq": p.seq, "total": p.total, "status": p.status, "modem": p.modem, "reference": p.reference,
                       "submitted_at": iso(p.submitted_at), "sent_at": iso(p.sent_at), "report_status": p.report_status,
                       "report_at": iso(p.report_at), "error": p.error} for p in message.parts],
            "events": [{"status": e.status, "part_seq": e.part_seq, "at": iso(e.at), "detail": e.detail}
                       for e in message.events],
        }


def summary(m: Message) -> dict[str, Any]:
    return {"id": m.id, "to": m.to_number, "text": m.text, "status": m.status,
            "priority": Priority.NAME.get(m.priority, "normal"), "kind": m.kind, "encoding": m.encoding,
            "segments": m.segments, "sim": m.sim, "sim_requested": m.sim_requested, "source": m.source,
            "attempts": m.attempts, "last_error": m.last_error, "campaign_id": m.campaign_id,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at), "expires_at": iso(m.expires_at), "sent_at": iso(m.sent_at),
            "finished_at": iso(m.finished_at)}


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
