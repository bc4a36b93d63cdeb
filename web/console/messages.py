"""The messages log (`/messages`) and each message's timeline (`/messages/<id>`), with cancel.

The log is `gateway.outbound.listing`, the query the REST API's `GET /messages` pages through, with
its cursors (`web.api.paging`): newest first on the indexes, filtered by status, number, campaign and
the days of a date range in the gateway's timezone. The timeline is `Queue.get` (the message with
its parts and events); cancelling is `Queue.cancel`, its audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_timezone, gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import Connection
from wtforms import SubmitField

from gateway.core.numbers import normalise
from gateway.outbound import listing
from gateway.outbound.models import Message, MessageStatus
from gateway.users import audit
from web.api.paging import decode_cursor, encode_cursor
from web.api.problems import ApiError
from web.console.security import client_address
from web.context import WebContext

PAGE = 50
STATUS_ORDER = ("queued", "sending", "sent", "delivered", "failed", "expired", "cancelled", "unknown", "suppressed")


class CancelForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Cancel this message"))


@dataclass(frozen=True)
class LogQuery:
    """The log's filters as the user gave them (to refill the form), what they mean, and what was wrong."""

    raw: dict[str, str]
    filters: listing.Filters
    before: int | None
    problems: tuple[str, ...]


def _day_start(text: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(date.fromisoformat(text), time(0), tzinfo=zone)


def read_filters(args: Any, region: str, zone: ZoneInfo) -> LogQuery:
    """The query string's filters; a bad one is named and left out, never an error page."""
    raw = {k: (args.get(k) or "").strip() for k in ("status", "to", "from", "until", "campaign")}
    problems: list[str] = []
    status = raw["status"] if raw["status"] in MessageStatus.ALL else None
    number = None
    if raw["to"]:
        try:
            number = normalise(raw["to"], region)
        except ValueError:
            problems.append(gettext("%(number)s is not a phone number.", number=raw["to"]))
    since = until = None
    try:
        since = _day_start(raw["from"], zone) if raw["from"] else None
        until = _day_start(raw["until"], zone) + timedelta(days=1) if raw["until"] else None
    except ValueError:
        problems.append(gettext("A date must be written as year-month-day."))
    campaign = int(raw["campaign"]) if raw["campaign"].isdigit() and 0 < int(raw["campaign"]) < 2**31 else None
    if raw["campaign"] and campaign is None:
        problems.append(gettext("A campaign is named by its number."))
    try:
        before = decode_cursor(args.get("cursor"))
    except ApiError:
        before = None
    return LogQuery(raw, listing.Filters(status=status, to_number=number, since=since, until=until,
                                         campaign_id=campaign), before, tuple(problems))


# the states whose detail is the reason (an error, a refusal); the others' (a reference, a SIM) the parts table shows
EXPLAINED = frozenset({"failed", "unknown", "suppressed", "expired", "queued"})


def timeline(message: Message) -> list[dict[str, Any]]:
    """The message's changes, oldest first: each a state, its time, the part it is about and, where
    it says why (a retry's error, a refusal), the detail."""
    return [{"status": e.status, "at": e.at, "part": e.part_seq,
             "detail": e.detail if e.status in EXPLAINED else None} for e in message.events]


def register(blueprint: Blueprint, context: WebContext) -> None:
    @blueprint.route("/messages", endpoint="messages")
    @login_required
    def log_page() -> Any:
        zone = ZoneInfo(str(get_timezone()))
        asked = read_filters(request.args, context.queue.default_region, zone)
        found = listing.page(context.sessions, asked.filters, before=asked.before, limit=PAGE)
        keep = {k: v for k, v in asked.raw.items() if v}
        older = url_for("console.messages", **keep, cursor=encode_cursor(found.next_before)) if found.next_before else None
        newest = url_for("console.messages", **keep) if asked.before is not None else None
        return render_template("console/messages.html", page=found, asked=asked, older=older, newest=newest,
                               statuses=STATUS_ORDER)

    @blueprint.route("/messages/<int:message_id>", endpoint="message")
    @login_required
    def message_page(message_id: int) -> Any:
        message = context.queue.get(message_id) if message_id < 2**63 else None
        if message is None:
            abort(404)
        return render_template("console/message.html", message=message, events=timeline(message),
                               cancel_form=CancelForm() if message.status == MessageStatus.QUEUED else None,
                               just_sent=request.args.get("sent") == "1")

    @blueprint.route("/messages/<int:message_id>/cancel", methods=["GET", "POST"], endpoint="cancel_message")
    @login_required
    def cancel_page(message_id: int) -> Any:
        message = context.queue.get(message_id) if message_id < 2**63 else None
        if message is None:
            abort(404)
        form = CancelForm()
        if request.method == "GET" or not form.validate_on_submit():
            return render_template("console/cancel.html", message=message, form=form,
                                   can=message.status == MessageStatus.QUEUED)
        actor, address = current_user.account.name, client_address()

        def audited(conn: Connection) -> None:
            audit.record_within(conn, context.clock, audit.MESSAGE_CANCELLED, actor=actor, address=address,
                                detail=f"message {message_id} to {message.to_number}")

        if context.queue.cancel(message_id, along=audited):
            flash(gettext("Cancelled: this message will not be sent."), "info")
        else:
            flash(gettext("Too late to cancel: the message is already being sent or has finished."), "info")
        return redirect(url_for("console.message", message_id=message_id))
