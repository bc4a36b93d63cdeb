"""A message to be queued, checked and built (not yet stored): what `Queue.enqueue` accepts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.core.numbers import normalise
from gateway.outbound.models import Message, MessageStatus, Part, PartStatus, Priority
from modem.encoding import segment_info
from modem.pdu import new_concat_reference

MAX_TEXT = 1600  # ten-ish parts: longer texts are a mistake, not a message


class RejectedMessage(ValueError):
    """A message that cannot be queued, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.index: int | None = None  # which item of enqueue_many


def checked(items: Sequence[Mapping[str, Any]], source: str, now: datetime, *, region: str,
            ref16: bool) -> list[Message]:
    """The messages for `items`, or RejectedMessage with the `index` of the first bad one."""
    messages = []
    for index, item in enumerate(items):
        try:
            messages.append(new_message(item, source, now, region=region, ref16=ref16))
        except RejectedMessage as exc:
            exc.index = index
            raise
    return messages


def new_message(item: Mapping[str, Any], source: str, now: datetime, *, region: str, ref16: bool) -> Message:
    """A checked, not yet stored message with its parts (the object enqueue returns)."""
    number = _number(item["to"], region)
    text, priority = item["text"], item.get("priority") or "normal"
    kind, expires_in = item.get("kind") or "transactional", item.get("expires_in")
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
    message = Message(
        to_number=number, text=text, kind=kind, priority=Priority.BY_NAME[priority],
        status=MessageStatus.QUEUED, encoding=info.encoding, segments=info.parts,
        concat_ref=new_concat_reference(ref16) if info.parts > 1 else None,
        sim_requested=item.get("sim"), source=source, attempts=0, created_at=now, not_before=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None, updated_at=now,
    )
    message.parts = [Part(seq=i, total=info.parts, status=PartStatus.PENDING) for i in range(1, info.parts + 1)]
    return message


def _number(to: str, region: str) -> str:
    try:
        return normalise(to, region)
    except ValueError as exc:
        raise RejectedMessage("to", str(exc)) from None
