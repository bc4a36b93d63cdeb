"""A message.status event's own parts: the message's callback receiver and the event's data, read
on the status change's connection (the hook runs in its transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select

from gateway.apikeys.models import ApiKey
from gateway.outbound import change_facts
from gateway.outbound.models import Message, Priority
from gateway.store.db import Prepared
from gateway.webhooks.endpoints import iso
from gateway.webhooks.models import MessageCallback

# built once: the message.status path runs on every status change
_CALLBACK_OF = Prepared(select(MessageCallback.url, ApiKey.signing_secret)
                        .join(ApiKey, ApiKey.id == MessageCallback.api_key_id)
                        .where(MessageCallback.message_id == bindparam("message_id"), ApiKey.revoked_at.is_(None)))
_STATUS_DATA = Prepared(select(Message.id, Message.to_number, Message.kind, Message.priority, Message.segments,
                               Message.sim, Message.last_error, Message.updated_at)
                        .where(Message.id == bindparam("message_id")))


def callback_of(conn: Connection, message_id: int, status: str) -> tuple[None, str, str] | None:
    """The message's callback_url as a receiver (its key's secret signs), if it hears this status:
    every state after `queued` (the POST's answer said queued), while its key is not revoked. When
    the change said the message has none (the send path's `sent`), nothing is read."""
    known = change_facts.known(message_id)
    if status == "queued" or (known is not None and not known.has_callback):
        return None
    callback = _CALLBACK_OF(conn, {"message_id": message_id}).first()
    return None if callback is None else (None, callback.url, callback.signing_secret)


def status_data(conn: Connection, message_id: int, status: str, report: str | None) -> dict[str, Any] | None:
    """The event's `data`: the message as it is after the change (None if it is gone)."""
    message = _STATUS_DATA(conn, {"message_id": message_id}).first()
    if message is None:
        return None
    data = {"id": message.id, "status": status, "to": message.to_number, "kind": message.kind,
            "priority": Priority.NAME.get(message.priority, "normal"), "segments": message.segments,
            "sim": message.sim, "error": message.last_error if status != "sent" else None,
            "at": iso(message.updated_at)}
    if report is not None:
        data["report"] = report
    return data
