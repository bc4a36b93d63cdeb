"""/keywords: the words customers text in (STOP, START, HELP, JOIN FASHION...). Configuration, so
writes need the `admin` scope. The running inbound pipeline picks a change up at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.consent import keyword_store
from gateway.consent import keywords
from gateway.consent.models import Keyword
from web.api.core import Api, Call, found
from web.api.messages import iso
from web.api.problems import ApiError, invalid
from web.api.schemas import ID, TIMESTAMP

KEYWORD_IN = {
    "type": "object", "additionalProperties": False, "required": ["word", "action"],
    "properties": {
        "word": {"type": "string", "minLength": 1, "maxLength": 64, "examples": ["FASHION", "СКИДКИ"]},
        "action": {"type": "string", "enum": sorted(keywords.ACTIONS),
                   "description": "join (add to `group`, then reply), reply, help, opt_in, confirm_opt_in (only "
                                  "answers a pending confirmation request), opt_out, opt_out_all"},
        "group": {"type": "string", "minLength": 1, "maxLength": 100, "description": "for join"},
        "reply": {"type": "string", "minLength": 1, "maxLength": 1600,
                  "description": "the auto-reply; without it, the default text for the action"},
        "language": {"type": "string", "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"},
    },
}
KEYWORD_PATCH = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
    "enabled": {"type": "boolean"}, "reply": {"type": ["string", "null"], "minLength": 1, "maxLength": 1600}}}
KEYWORD_PROPERTIES: dict[str, Any] = {
    "id": ID, "word": {"type": "string"}, "label": {"type": "string"}, "action": {"type": "string"},
    "group": {"type": ["string", "null"]}, "reply": {"type": ["string", "null"]},
    "language": {"type": ["string", "null"]}, "enabled": {"type": "boolean"}, "builtin": {"type": "boolean"},
    "created_at": TIMESTAMP,
}
KEYWORD = {"type": "object", "required": list(KEYWORD_PROPERTIES), "properties": KEYWORD_PROPERTIES}


def register(api: Api) -> None:
    api.all_rows("/keywords", Keyword, keyword_dict, name="list_keywords", summary="Keywords, built-in and custom",
                 tag="keywords", item=KEYWORD, items="keywords")

    @api.operation("POST", "/keywords", summary="Add a custom keyword", tag="keywords", scopes=("admin",),
                   body=KEYWORD_IN, idempotent=True, conflict="the keyword exists",
                   description="Matching ignores case, accents, punctuation and spaces (\"Fashion!\" = FASHION).",
                   responses={201: ("the keyword", KEYWORD)})
    def create_keyword(call: Call) -> tuple[int, Any]:
        body = call.body
        with call.ctx.sessions.begin() as session:
            try:
                word = keywords.validate_word(body["word"])
            except ValueError as exc:
                raise invalid("word", str(exc)) from None
            if session.scalar(select(Keyword).where(Keyword.word == word)) is not None:
                raise ApiError(409, f"keyword {body['word']!r} exists")
            try:
                row = keyword_store.add(session, body["word"], body["action"], now=call.ctx.clock.now(),
                                        group=body.get("group"), reply=body.get("reply"), language=body.get("language"))
            except ValueError as exc:
                raise invalid("group" if "group" in str(exc) else "action", str(exc)) from None
            result = keyword_dict(session, row)
        _reload(call)
        return 201, result

    @api.operation("GET", "/keywords/{keyword_id}", summary="A keyword", tag="keywords", scopes=("read",),
                   path_params={"keyword_id": ID}, responses={200: ("the keyword", KEYWORD)})
    def get_keyword(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            return 200, keyword_dict(session, found(session, Keyword, call.path["keyword_id"], "keyword"))

    @api.operation("PATCH", "/keywords/{keyword_id}", summary="Turn a keyword on or off, or change its reply",
                   tag="keywords", scopes=("admin",), path_params={"keyword_id": ID}, body=KEYWORD_PATCH,
                   conflict="opt-out words cannot be turned off", responses={200: ("the keyword", KEYWORD)})
    def update_keyword(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            row = found(session, Keyword, call.path["keyword_id"], "keyword")
            try:
                keyword_store.change(session, row, call.body)
            except keyword_store.KeywordRefused as exc:
                raise ApiError(409, str(exc)) from None
            result = keyword_dict(session, row)
        _reload(call)
        return 200, result

    @api.operation("DELETE", "/keywords/{keyword_id}", summary="Delete a custom keyword", tag="keywords",
                   scopes=("admin",), path_params={"keyword_id": ID},
                   conflict="built-in keywords cannot be deleted (turn them off instead)",
                   responses={204: ("deleted", None)})
    def delete_keyword(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            row = found(session, Keyword, call.path["keyword_id"], "keyword")
            try:
                keyword_store.delete(session, row)
            except keyword_store.KeywordRefused as exc:
                raise ApiError(409, f"{exc} (PATCH enabled: false)") from None
        _reload(call)
        return 204, None



def _reload(call: Call) -> None:
    if call.ctx.inbound is not None:
        call.ctx.inbound.reload_keywords()


def keyword_dict(_session: Any, k: Keyword) -> dict[str, Any]:
    return {"id": k.id, "word": k.word, "label": k.label, "action": k.action, "group": k.group_name,
            "reply": k.reply, "language": k.language, "enabled": k.enabled, "builtin": k.builtin,
            "created_at": iso(k.created_at)}
