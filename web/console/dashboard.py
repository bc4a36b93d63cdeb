"""What the dashboard shows: a card per modem (from gateway.sims.status.describe, as /api/v1/modems
has it), the queue's depth and the newest texts that came in.

`card` is pure: it turns one described modem into what the template prints, so the page never
interprets the status dicts itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import format_date, format_datetime, gettext
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


@dataclass(frozen=True)
class Activity:
    """The dashboard's history: the two charts, replies and opt-outs today and over 7 days, campaigns under way."""

    hourly: Any  # web.console.charts.Chart
    daily: Any
    replies_today: int
    replies_week: int
    opt_outs_today: int
    opt_outs_week: int
    campaigns: list[Any]  # gateway.campaigns.progress.Progress


def activity(sessions: sessionmaker[Session], now: datetime, timezone: str) -> Activity:
    """Everything the dashboard reads about the past, in the shop's timezone (index ranges only)."""
    from zoneinfo import ZoneInfo

    from gateway.campaigns import progress
    from gateway.consent.counts import opt_outs_since
    from gateway.inbound.counts import received_since
    from gateway.outbound import history

    zone = ZoneInfo(timezone)
    today = history.local_midnight(now.astimezone(zone).date(), zone)
    week = history.day_bounds(now, zone, 7)[0]
    with sessions() as session:
        conn = session.connection()
        hours = history.per_hour(conn, now, zone)
        days = history.per_day(conn, now, zone)
        figures = (received_since(conn, today), received_since(conn, week),
                   opt_outs_since(conn, today), opt_outs_since(conn, week))
        campaigns = progress.in_progress(conn)
    return Activity(history_chart("hourly", gettext("Messages per hour, last 24 hours"), hours, hour_label),
                    history_chart("daily", gettext("Messages per day, last 30 days"), days, day_label),
                    *figures, campaigns)


def hour_label(start: datetime) -> str:
    return format_datetime(start, "HH:mm")


def day_label(start: datetime) -> str:
    return format_date(start.date(), "d MMM")


def history_chart(key: str, title: str, counts: Any, label_of: Any) -> Any:
    """A grouped bar chart of sent, delivered and failed (delivered and failed are part of sent: not stacked)."""
    from web.console.charts import bar_chart

    names = {"sent": gettext("Sent"), "delivered": gettext("Delivered"), "failed": gettext("Failed")}
    return bar_chart(key, title, [label_of(s) for s in counts.starts],
                     [(names[name], name, counts.counts[name]) for name in ("sent", "delivered", "failed")],
                     stacked=False)
