"""/templates: named texts with placeholders. A message can be sent from one
(`POST /messages {"to", "template", "variables"}`); the recipient's contact fills {name},
{first_name} and its custom fields unless `variables` says otherwise. Writes need `admin`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.outbound import template_book
from gateway.outbound.models import MessageTemplate
from gateway.outbound.templating import placeholders
from modem.encoding import segment_info
from web.api.core import Api, Call, found
from web.api.messages import iso
from web.api.problems import ApiError, invalid
from web.api.schemas import ID, TIMESTAMP

NAME = {"type": "string", "pattern": template_book.NAME_PATTERN, "examples": ["otp", "table-ready"]}
BODY = {"type": "string", "minLength": 1, "maxLength": template_book.MAX_BODY, "examples": ["Hi {first_name}, your table is ready"]}
KIND = {"type": "string", "enum": list(template_book.KINDS), "default": "transactional"}
TEMPLATE_IN = {"type": "object", "additionalProperties": False, "required": ["name", "body"],
               "properties": {"name": NAME, "body": BODY, "kind": KIND}}
TEMPLATE_PATCH = {"type": "object", "additionalProperties": False, "minProperties": 1,
                  "properties": {"body": BODY, "kind": {"type": "string", "enum": ["transactional", "marketing"]}}}
TEMPLATE_PROPERTIES: dict[str, Any] = {
    "id": ID, "name": {"type": "string"}, "body": {"type": "string"}, "kind": {"type": "string"},
    "placeholders": {"type": "array", "items": {"type": "string"}},
    "segments": {"type": "integer", "description": "parts of the body as written (values change it)"},
    "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
}
TEMPLATE = {"type": "object", "required": list(TEMPLATE_PROPERTIES), "properties": TEMPLATE_PROPERTIES}
TEMPLATE_ID = {"template_id": ID}


def register(api: Api) -> None:
    api.all_rows("/templates", MessageTemplate, template_dict, name="list_templates", summary="Templates, newest first",
                 tag="templates", item=TEMPLATE, items="templates")

    @api.operation("POST", "/templates", summary="Create a template", tag="templates", scopes=("admin",),
                   body=TEMPLATE_IN, idempotent=True, conflict="a template with this name exists",
                   responses={201: ("the template", TEMPLATE)})
    def create_template(call: Call) -> tuple[int, Any]:
        _check_body(call.body["body"])
        now = call.ctx.clock.now()
        with call.ctx.sessions.begin() as session:
            if find(session, call.body["name"]) is not None:
                raise ApiError(409, f"a template named {call.body['name']!r} exists")
            row = MessageTemplate(name=call.body["name"], body=call.body["body"],
                                  kind=call.body.get("kind", "transactional"), created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            return 201, template_dict(session, row)

    @api.operation("GET", "/templates/{template_id}", summary="A template", tag="templates", scopes=("read",),
                   path_params=TEMPLATE_ID, responses={200: ("the template", TEMPLATE)})
    def get_template(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            return 200, template_dict(session, found(session, MessageTemplate, call.path["template_id"], "template"))

    @api.operation("PATCH", "/templates/{template_id}", summary="Change a template's text or kind",
                   tag="templates", scopes=("admin",), path_params=TEMPLATE_ID, body=TEMPLATE_PATCH,
                   responses={200: ("the template", TEMPLATE)})
    def update_template(call: Call) -> tuple[int, Any]:
        if "body" in call.body:
            _check_body(call.body["body"])
        with call.ctx.sessions.begin() as session:
            row = found(session, MessageTemplate, call.path["template_id"], "template")
            for name in ("body", "kind"):
                if name in call.body:
                    setattr(row, name, call.body[name])
            row.updated_at = call.ctx.clock.now()
            return 200, template_dict(session, row)

    @api.operation("DELETE", "/templates/{template_id}", summary="Delete a template", tag="templates",
                   scopes=("admin",), path_params=TEMPLATE_ID, responses={204: ("deleted", None)})
    def delete_template(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            session.delete(found(session, MessageTemplate, call.path["template_id"], "template"))
        return 204, None


def find(session: Session, name: str) -> MessageTemplate | None:
    return template_book.find(session, name)



def _check_body(body: str) -> None:
    problem = template_book.body_problem(body)
    if problem:
        raise invalid("body", problem)


def template_dict(_session: Session, t: MessageTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "body": t.body, "kind": t.kind, "placeholders": placeholders(t.body),
            "segments": segment_info(t.body).parts, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}
