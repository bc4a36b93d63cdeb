"""What the dashboard shows: a card per modem (from gateway.sims.status.describe, as /api/v1/modems
has it), the queue's depth and the newest texts that came in.

`card` is pure: it turns one described modem into what the template prints, so the page never
interprets the status dicts itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.inbound.models import InboundMessage

MAX_BARS = 5
WINDOWS = ("minute", "hour", "day", "month")


@dataclass(frozen=True)
class LimitUse:
    window: str  # minute | hour | day | month (rolling)
    used: int
    cap: int


@dataclass(frozen=True)
class ModemCard:
    name: str
    state: str
    reason: str | None
    recovery: str | None  # the recovery ladder's last step, as logged
    operator: str | None
    registration: str | None
    bars: int | None  # 0..5; None: not known yet
    dbm: int | None
    sim: str  # ok | error | unknown
    sim_id: str | None  # the end of the ICCID (else IMSI), for telling SIMs apart
    limits: tuple[LimitUse, ...]
    health: str  # pass | warn | fail


def card(modem: dict[str, Any]) -> ModemCard:
    from gateway.sims.status import health_of

    signal = modem.get("signal") or {}
    identity = modem.get("identity") or {}
    sim_number = identity.get("iccid") or identity.get("imsi")
    if modem["state"] == "sim_error":
        sim = "error"
    elif sim_number:
        sim = "ok"
    else:
        sim = "unknown"
    limits = modem.get("limits") or {}
    uses = tuple(LimitUse(w, int(limits[w]["used"]), int(limits[w]["cap"])) for w in WINDOWS if w in limits)
    bars = signal.get("bars")
    return ModemCard(
        name=modem["name"], state=modem["state"], reason=modem.get("reason"), recovery=modem.get("recovery"),
        operator=modem.get("operator"),
        registration=modem.get("registration"), bars=None if bars is None else max(0, min(MAX_BARS, int(bars))),
        dbm=signal.get("dbm"), sim=sim, sim_id=sim_number[-6:] if sim_number else None, limits=uses,
        health=health_of(modem)[0])


@dataclass(frozen=True)
class Received:
    sender: str | None
    text: str
    modem: str
    received_at: datetime
    keyword: str | None


def latest_received(sessions: sessionmaker[Session], limit: int = 5) -> list[Received]:
    """The newest texts that came in, newest first (by id: the order they were stored)."""
    with sessions() as session:
        rows = session.execute(
            select(InboundMessage.sender, InboundMessage.text, InboundMessage.modem, InboundMessage.received_at,
                   InboundMessage.keyword).order_by(InboundMessage.id.desc()).limit(limit)).all()
    return [Received(*row) for row in rows]


QUEUE_STATES = ("queued", "sending", "sent")


def queue_depth(depth: dict[str, int]) -> dict[str, int]:
    """The not-yet-final states, each with its count (0 when none)."""
    return {state: int(depth.get(state, 0)) for state in QUEUE_STATES}
