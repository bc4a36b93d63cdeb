"""/contacts and /groups: the shop's customer list, as the console and the CSV import keep it.

Writes need the `contacts` scope (a till or a booking system that registers customers gets it; a
key that only sends does not); reads need `read`. Consent is not set here: it lives in the ledger (/consent), so it always has a source.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.audience import contacts, directory
from gateway.audience.models import Contact, ContactTag, Group, GroupMember, Tag
from gateway.consent import ledger
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource
from gateway.core.numbers import InvalidNumber
from web.api.core import Api, Call, found, number_of
from web.api.messages import iso
from web.api.paging import paginate
from web.api.problems import ApiError, invalid
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP

NAME = {"type": "string", "minLength": 1, "maxLength": 100}
NUMBER = {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["+447700900123", "07700 900123"]}
STATES = ["none", "pending", "opted_in", "opted_out", "opted_out_all"]
EDITABLE: dict[str, Any] = {
    "name": {"type": ["string", "null"], "maxLength": 200},
    "language": {"type": ["string", "null"], "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                 "description": "BCP 47, e.g. en, ru, ar, zh-Hans: replies and confirmations use it"},
    "timezone": {"type": ["string", "null"], "maxLength": 64, "description": "IANA, e.g. Europe/Moscow"},
    "birthday": {"type": ["string", "null"], "format": "date"},
    "fields": {"type": "object", "maxProperties": 50,
               "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    "tags": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
}
CONTACT_IN = {"type": "object", "additionalProperties": False, "required": ["number"],
              "properties": {"number": NUMBER, **EDITABLE}}
CONTACT_PATCH = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": EDITABLE}
CONTACT_PROPERTIES: dict[str, Any] = {
    "id": ID, "number": {"type": "string"}, "name": {"type": ["string", "null"]},
    "language": {"type": ["string", "null"]}, "timezone": {"type": ["string", "null"]},
    "timezone_guessed": {"type": "boolean", "description": "the country's most populous zone, guessed from a "
                         "number whose plan spans several: set `timezone` to state the right one"},
    "birthday": {"type": ["string", "null"], "format": "date"}, "fields": {"type": "object"},
    "flag": {"type": ["string", "null"], "description": "invalid or unreachable: kept off audiences"},
    "consent": {"type": "string", "enum": STATES}, "source": {"type": "string"},
    "last_inbound_at": NULLABLE_TIMESTAMP, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
}
CONTACT = {"type": "object", "required": list(CONTACT_PROPERTIES), "properties": CONTACT_PROPERTIES}
CONTACT_DETAIL = {"type": "object", "required": [*CONTACT_PROPERTIES, "groups", "tags", "consent_history"],
                  "properties": {**CONTACT_PROPERTIES,
                                 "groups": {"type": "array", "items": {"type": "string"}},
                                 "tags": {"type": "array", "items": {"type": "string"}},
                                 "consent_history": {"type": "array", "items": {"type": "object"}}}}
GROUP_PROPERTIES: dict[str, Any] = {"id": ID, "name": {"type": "string"}, "members": {"type": "integer"},
                                    "created_at": TIMESTAMP}
GROUP = {"type": "object", "required": list(GROUP_PROPERTIES), "properties": GROUP_PROPERTIES}
MEMBERS_IN = {"type": "object", "additionalProperties": False, "required": ["numbers"],
              "properties": {"numbers": {"type": "array", "minItems": 1, "maxItems": 1000, "items": NUMBER}}}
MEMBERS_OUT = {"type": "object", "required": ["added", "already"], "properties": {
    "added": {"type": "integer"}, "already": {"type": "integer"}}}


def register(api: Api) -> None:
    @api.listing("/contacts", summary="Contacts, newest first", tag="contacts", item=CONTACT, items="contacts",
                 filters={"group": NAME, "tag": NAME, "consent": {"type": "string", "enum": STATES},
                          "q": {"type": "string", "minLength": 1, "maxLength": 100,
                                "description": "part of the name or number"}})
    def list_contacts(call: Call) -> tuple[int, Any]:
        q = call.query
        query = select(Contact)
        if "group" in q:
            query = query.join(GroupMember, GroupMember.contact_id == Contact.id).join(
                Group, Group.id == GroupMember.group_id).where(Group.name == q["group"])
        if "tag" in q:
            query = query.join(ContactTag, ContactTag.contact_id == Contact.id).join(
                Tag, Tag.id == ContactTag.tag_id).where(Tag.name == q["tag"])
        if "q" in q:
            pattern = "%" + q["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(Contact.name.ilike(pattern, escape="\\") | Contact.number.like(pattern, escape="\\"))
        if "consent" in q:
            query = query.where(_consent_is(q["consent"]))
        return paginate(call, query, Contact.id, contact_dict)

    @api.operation("POST", "/contacts", summary="Add a contact (no consent: that is /consent)", tag="contacts",
                   scopes=("contacts",), body=CONTACT_IN, idempotent=True, conflict="a contact with this number exists",
                   responses={201: ("the new contact", CONTACT_DETAIL)})
    def create_contact(call: Call) -> tuple[int, Any]:
        number = number_of(call, call.body["number"], "number")
        now = call.ctx.clock.now()
        with call.ctx.sessions.begin() as session:
            contact = None if contacts.find(session, number) is not None else contacts.create(
                session, number, now=now, source="api")
            if contact is None:
                raise ApiError(409, f"a contact with number {number} exists")
            _apply(session, contact, call.body)
            session.flush()
            return 201, detail_dict(session, contact)

    @api.operation("GET", "/contacts/{contact_id}", summary="A contact with groups, tags and consent history",
                   tag="contacts", scopes=("read",), path_params={"contact_id": ID},
                   responses={200: ("the contact", CONTACT_DETAIL)})
    def get_contact(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            return 200, detail_dict(session, found(session, Contact, call.path["contact_id"], "contact"))

    @api.operation("PATCH", "/contacts/{contact_id}", summary="Change a contact's details", tag="contacts",
                   scopes=("contacts",), path_params={"contact_id": ID}, body=CONTACT_PATCH,
                   description="`tags` replaces the contact's tags; `fields` replaces its custom fields.",
                   responses={200: ("the contact", CONTACT_DETAIL)})
    def update_contact(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            contact = found(session, Contact, call.path["contact_id"], "contact")
            _apply(session, contact, call.body)
            contact.updated_at = call.ctx.clock.now()
            session.flush()
            return 200, detail_dict(session, contact)

    @api.operation("DELETE", "/contacts/{contact_id}", summary="Erase a contact's personal data", tag="contacts",
                   scopes=("contacts",), path_params={"contact_id": ID},
                   description="Name, birthday, language, custom fields, tags and group memberships go. The "
                               "number stays as a suppression entry with an opt-out in the ledger, so an "
                               "erased customer is never texted marketing again, even if re-imported.",
                   responses={204: ("erased", None)})
    def erase_contact(call: Call) -> tuple[int, Any]:
        now = call.ctx.clock.now()
        with call.ctx.sessions.begin() as session:
            contact = found(session, Contact, call.path["contact_id"], "contact")
            number, needs_opt_out = contact.number, directory.erase(session, contact, now)
        if needs_opt_out:
            call.ctx.audience.opt_out(number, source=ConsentSource.API, scope=ConsentScope.MARKETING,
                                      detail="personal data erased on request")
        return 204, None

    api.all_rows("/groups", Group, group_dict, name="list_groups", summary="Groups with their member counts",
                 tag="groups", item=GROUP, items="groups")

    @api.operation("POST", "/groups", summary="Create a group", tag="groups", scopes=("contacts",),
                   body={"type": "object", "additionalProperties": False, "required": ["name"],
                         "properties": {"name": NAME}},
                   idempotent=True, conflict="a group with this name exists", responses={201: ("the group", GROUP)})
    def create_group(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            if session.scalar(select(Group).where(Group.name == call.body["name"])) is not None:
                raise ApiError(409, f"a group named {call.body['name']!r} exists")
            group = contacts.ensure_group(session, call.body["name"], call.ctx.clock.now())
            return 201, group_dict(session, group)

    @api.operation("GET", "/groups/{group_id}", summary="A group", tag="groups", scopes=("read",),
                   path_params={"group_id": ID}, responses={200: ("the group", GROUP)})
    def get_group(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            return 200, group_dict(session, found(session, Group, call.path["group_id"], "group"))

    @api.operation("DELETE", "/groups/{group_id}", summary="Delete a group (its contacts stay)", tag="groups",
                   scopes=("contacts",), path_params={"group_id": ID}, responses={204: ("deleted", None)})
    def delete_group(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            group = found(session, Group, call.path["group_id"], "group")
            session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
            session.delete(group)
        return 204, None

    @api.operation("POST", "/groups/{group_id}/members", summary="Add numbers to a group", tag="groups",
                   scopes=("contacts",), path_params={"group_id": ID}, body=MEMBERS_IN, idempotent=True,
                   description="Unknown numbers become contacts without consent. One bad number rejects the "
                               "request; the errors name each one (`numbers[3]`).",
                   responses={200: ("how many were added, and how many were members already", MEMBERS_OUT)})
    def add_members(call: Call) -> tuple[int, Any]:
        numbers, errors = [], []
        for i, raw in enumerate(call.body["numbers"]):
            try:
                numbers.append(contacts.parse_number(raw, call.ctx.queue.default_region)[0])
            except InvalidNumber as exc:
                errors.append({"field": f"numbers[{i}]", "message": str(exc)})
        if errors:
            raise ApiError(422, f"{errors[0]['field']}: {errors[0]['message']}", errors=errors[:50])
        now, added = call.ctx.clock.now(), 0
        with call.ctx.sessions.begin() as session:
            group = found(session, Group, call.path["group_id"], "group")
            for number in dict.fromkeys(numbers):
                contact, _ = contacts.find_or_create(session, number, now=now, source="api")
                added += contacts.add_to_group(session, contact, group.name, source="api", now=now)
        return 200, {"added": added, "already": len(set(numbers)) - added}

    @api.operation("DELETE", "/groups/{group_id}/members/{contact_id}", summary="Take a contact out of a group",
                   tag="groups", scopes=("contacts",), path_params={"group_id": ID, "contact_id": ID},
                   responses={204: ("removed", None)})
    def remove_member(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions.begin() as session:
            group = found(session, Group, call.path["group_id"], "group")
            gone = session.execute(delete(GroupMember).where(
                GroupMember.group_id == group.id, GroupMember.contact_id == call.path["contact_id"])).rowcount
        if not gone:
            raise ApiError(404, f"contact {call.path['contact_id']} is not in group {group.name!r}")
        return 204, None




def _apply(session: Session, contact: Contact, body: dict[str, Any]) -> None:
    """Set the editable fields present in `body` (validated by schema; meaning checked here)."""
    for name in ("name", "language"):
        if name in body:
            setattr(contact, name, body[name])
    if "timezone" in body:
        if body["timezone"] is not None:
            try:
                ZoneInfo(body["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise invalid("timezone", f"unknown timezone {body['timezone']!r} (IANA names, e.g. Europe/Moscow)") from None
        zone = contacts.NumberZone(body["timezone"]) if body["timezone"] else contacts.timezone_for(contact.number)
        contact.timezone, contact.timezone_guessed = zone.name, zone.guessed
    if "birthday" in body:
        try:
            contact.birthday = date.fromisoformat(body["birthday"]) if body["birthday"] else None
        except ValueError:
            raise invalid("birthday", f"not a date: {body['birthday']!r} (YYYY-MM-DD)") from None
    if "fields" in body:
        contact.fields = dict(body["fields"])
    if "tags" in body:
        directory.set_tags(session, contact, body["tags"])


def _consent_is(state: str) -> Any:
    """SQL for "the contact's consent is `state`", as ledger.derive folds the ledger: the newest
    opt-in/opt-out decides; a request alone is `pending`."""
    def newest(column: Any) -> Any:
        return (select(column).where(ConsentEvent.contact_id == Contact.id,
                                     ConsentEvent.kind.in_((ConsentKind.OPT_IN, ConsentKind.OPT_OUT)))
                .order_by(ConsentEvent.id.desc()).limit(1).correlate(Contact).scalar_subquery())

    kind, scope = newest(ConsentEvent.kind), newest(ConsentEvent.scope)
    if state == "none":
        return ~select(ConsentEvent.id).where(ConsentEvent.contact_id == Contact.id).exists()
    if state == "pending":
        return kind.is_(None) & select(ConsentEvent.id).where(
            ConsentEvent.contact_id == Contact.id, ConsentEvent.kind == ConsentKind.REQUESTED).exists()
    if state == "opted_in":
        return kind == ConsentKind.OPT_IN
    if state == "opted_out_all":
        return (kind == ConsentKind.OPT_OUT) & (scope == ConsentScope.ALL)
    return (kind == ConsentKind.OPT_OUT) & (scope != ConsentScope.ALL)


def contact_dict(session: Session, c: Contact) -> dict[str, Any]:
    return {"id": c.id, "number": c.number, "name": c.name, "language": c.language, "timezone": c.timezone,
            "timezone_guessed": bool(c.timezone_guessed),
            "birthday": c.birthday.isoformat() if c.birthday else None, "fields": c.fields or {},
            "flag": c.flag, "consent": ledger.state_of(session, c.id).status, "source": c.source,
            "last_inbound_at": iso(c.last_inbound_at), "created_at": iso(c.created_at), "updated_at": iso(c.updated_at)}


def detail_dict(session: Session, c: Contact) -> dict[str, Any]:
    tags = session.scalars(select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id)
                           .where(ContactTag.contact_id == c.id).order_by(Tag.name)).all()
    return {**contact_dict(session, c), "groups": contacts.groups_of(session, c.id), "tags": list(tags),
            "consent_history": [event_dict(e) for e in ledger.history(session, c.id)]}


def event_dict(e: Any) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "scope": e.scope, "source": e.source, "at": iso(e.at), "detail": e.detail,
            "inbound_message_id": e.inbound_message_id}


def group_dict(session: Session, g: Group) -> dict[str, Any]:
    members = session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == g.id))
    return {"id": g.id, "name": g.name, "members": int(members or 0), "created_at": iso(g.created_at)}
