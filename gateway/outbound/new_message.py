"""A message to be queued, checked and built (not yet stored): what `Queue.enqueue` accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.core.numbers import normalise
from gateway.outbound.models import MessageStatus, Priority
from modem.encoding import segment_info
from modem.pdu import new_concat_reference

MAX_TEXT = 1600  # ten-ish parts: longer texts are a mistake, not a message
E164 = re.compile(r"\+[1-9][0-9]{3,14}")  # the form normalise gives; lengths per country are its job


class RejectedMessage(ValueError):
    """A message that cannot be queued, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.index: int | None = None  # which item of enqueue_many


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An item whose number is E.164 already (a contact's, normalised when it was stored): the queue
    checks its form but does not parse it again. The rest is checked as a mapping item's is;
    `campaign_id` names the campaign that queues it, stored with the message."""

    to_number: str
    text: str
    kind: str = "transactional"
    priority: str = "normal"
    campaign_id: int | None = None
    sim: str | None = None
    expires_in: float | None = None


Item = Mapping[str, Any] | Outgoing


@dataclass(slots=True)
class NewMessage:
    """A checked message as it is stored (one `messages` row; its parts are `segments` pending parts)
    and as `Queue.enqueue_many` returns it, with `id` set once stored. A plain object: building a
    batch of ORM objects costs more than storing it."""

    to_number: str
    text: str
    kind: str
    priority: int
    encoding: str
    segments: int
    concat_ref: int | None
    sim_requested: str | None
    source: str
    created_at: datetime
    expires_at: datetime | None
    campaign_id: int | None = None
    status: str = MessageStatus.QUEUED
    id: int = 0  # 0 until stored

    def row(self) -> dict[str, Any]:
        """Its `messages` row (every column the insert writes)."""
        return {"to_number": self.to_number, "text": self.text, "kind": self.kind, "priority": self.priority,
                "status": self.status, "encoding": self.encoding, "segments": self.segments,
                "concat_ref": self.concat_ref, "sim_requested": self.sim_requested, "source": self.source,
                "campaign_id": self.campaign_id, "attempts": 0, "created_at": self.created_at,
                "not_before": self.created_at, "expires_at": self.expires_at, "updated_at": self.created_at}


def checked(items: Sequence[Item], source: str, now: datetime, *, region: str, ref16: bool) -> list[NewMessage]:
    """The messages for `items`, or RejectedMessage with the `index` of the first bad one."""
    messages = []
    for index, item in enumerate(items):
        try:
            messages.append(new_message(item, source, now, region=region, ref16=ref16))
        except RejectedMessage as exc:
            exc.index = index
            raise
    return messages


def new_message(item: Item, source: str, now: datetime, *, region: str, ref16: bool) -> NewMessage:
    """A checked, not yet stored message (the object enqueue returns)."""
    if isinstance(item, Outgoing):
        number, text, priority, kind = _e164(item.to_number), item.text, item.priority, item.kind
        sim, expires_in, campaign_id = item.sim, item.expires_in, item.campaign_id
    else:
        number, text = _number(item["to"], region), item["text"]
        priority, kind = item.get("priority") or "normal", item.get("kind") or "transactional"
        sim, expires_in, campaign_id = item.get("sim"), item.get("expires_in"), None
    if not isinstance(text, str) or not text:
        raise RejectedMessage("text", "must not be empty")
    if len(text) > MAX_TEXT:
        raise RejectedMessage("text", f"is {len(text)} characters; at most {MAX_TEXT}")
    if priority not in Priority.BY_NAME:
        raise RejectedMessage("priority", f"must be one of {', '.join(Priority.BY_NAME)}")
    if kind not in ("transactional", "marketing"):
        raise RejectedMessage("kind", "must be transactional or marketing")
    if expires_in is not None and expires_in <= 0:
        raise RejectedMessage("expires_in", "must be a positive number of seconds")
    info = segment_info(text, ref16=ref16)
    return NewMessage(
        to_number=number, text=text, kind=kind, priority=Priority.BY_NAME[priority], encoding=info.encoding,
        segments=info.parts, concat_ref=new_concat_reference(ref16) if info.parts > 1 else None,
        sim_requested=sim, source=source, created_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None, campaign_id=campaign_id,
    )


def _number(to: str, region: str) -> str:
    try:
        return normalise(to, region)
    except ValueError as exc:
        raise RejectedMessage("to", str(exc)) from None


def _e164(number: str) -> str:
    if not isinstance(number, str) or E164.fullmatch(number) is None:
        raise RejectedMessage("to", f"{number!r} is not an E.164 number (+ and 4 to 15 digits)")
    return number
