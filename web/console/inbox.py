"""The inbox (`/inbox`): one line per customer number, newest first, unread marked; a number's
conversation (`/inbox/<number or contact id>`) with the reply box.

Reads go through `gateway.inbound.inbox` (paged on indexes), consent through the ledger, a reply
through `Queue.enqueue` as the REST API's POST /messages does: transactional (it answers what the
customer asked), from the SIM they wrote to; to a contact who opted out only while it answers a text
they sent after the opt-out, within `[consent] reply_after_opt_out_hours` (`gateway.consent.replies`:
otherwise refused, naming the opt-out; the send-time check still applies STOPALL and
`consent.transactional_honour_stop`), with its audit entry
in the same transaction. Opening a conversation marks it read. The list and an open conversation
refresh themselves every 10 s with htmx (a fragment each); without JavaScript they are plain pages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from gateway.consent import ledger, requests
from gateway.consent.models import ConsentSource, OptOutRequestDecision
from gateway.consent.replies import ReplyVerdict, reply_verdict
from gateway.inbound import inbox
from gateway.outbound.new_message import MAX_TEXT, NewMessage, RejectedMessage
from gateway.users import audit
from web.console import counter
from web.console.forms import add_error, require_posted
from web.console.labels import SOURCES
from web.console.security import client_address
from web.context import WebContext

REPLY_SENT = "reply_sent"
OPTED_OUT = "opted_out"  # the audit action the contact page's opt-out writes too
REQUEST_DISMISSED = "opt_out_request_dismissed"
SOURCE = "console"


class ReplyForm(FlaskForm):
    text = TextAreaField(lazy_gettext("Your reply"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    submit = SubmitField(lazy_gettext("Send reply"))


class RequestDecisionForm(FlaskForm):
    """What staff read in a text that reads like a request to stop (`gateway.consent.requests`)."""

    decision = HiddenField(validators=[AnyOf(sorted(OptOutRequestDecision.VALUES))])


def _is_phone(number: str) -> bool:
    """A number a reply can go to (E.164); an alphanumeric sender ("VODAFONE") cannot be answered."""
    return number.startswith("+") and number[1:].isdigit()


def register(blueprint: Blueprint, context: WebContext) -> None:
    def number_for(key: str) -> str:
        """The number a conversation link names: a contact id (digits) or the number itself."""
        if key.isdigit():
            with context.sessions() as session:
                number = inbox.number_of_contact(session, int(key))
            if number is None:
                abort(404)
            return number
        return key

    def consent_of(contact_id: int | None) -> str:
        if contact_id is None:
            return "none"
        with context.sessions() as session:
            return ledger.state_of(session, contact_id).status

    def opened(key: str) -> inbox.Thread:
        """The conversation, marked read (the person looking at it has seen what it shows)."""
        number = number_for(key)
        with context.sessions.begin() as session:
            found = inbox.thread(session, number)
            if found is None:
                abort(404)
            if found.unread:
                inbox.mark_read(session, number, found)
        return found

    def held_requests(found: inbox.Thread) -> list[tuple[int, inbox.Entry]]:
        """The texts of this conversation staff still have to read as an opt-out or not (request id, text)."""
        by_id = {e.id: e for e in found.entries if e.direction == "in"}
        with context.sessions() as session:
            pending = requests.pending_for_messages(session, list(by_id))
        return [(request_id, by_id[inbound_id]) for inbound_id, request_id in sorted(pending.items())]

    def conversation_page(key: str, form: ReplyForm, status: int = 200) -> Any:
        found = opened(key)
        consent = context.config.consent
        return render_template("console/conversation.html", thread=found, key=key, form=form,
                               held=held_requests(found), decision_form=RequestDecisionForm(),
                               count=counter.count(form.text.data or "", ref16=context.queue.ref16),
                               consent=consent_of(found.contact_id), can_reply=_is_phone(found.number),
                               honour_stop=consent.transactional_honour_stop,
                               honour_stopall=consent.transactional_honour_stopall), status

    @blueprint.route("/inbox", endpoint="inbox")
    @login_required
    def inbox_page() -> Any:
        return render_template("console/inbox.html", **_listing(context))

    @blueprint.route("/inbox/lines", endpoint="inbox_lines")
    @login_required
    def inbox_lines() -> Any:
        return render_template("console/_inbox_lines.html", **_listing(context))

    @blueprint.route("/inbox/<key>", endpoint="conversation")
    @login_required
    def conversation(key: str) -> Any:
        return conversation_page(key, ReplyForm())

    @blueprint.route("/inbox/<key>/entries", endpoint="conversation_entries")
    @login_required
    def conversation_entries(key: str) -> Any:
        return render_template("console/_thread.html", thread=opened(key), key=key)

    @blueprint.route("/inbox/<key>/reply", methods=["POST"], endpoint="reply")
    @login_required
    def reply(key: str) -> Any:
        form = ReplyForm()
        if not form.validate_on_submit():
            return conversation_page(key, form, 400)
        number = number_for(key)
        with context.sessions() as session:
            found = inbox.thread(session, number)
        if found is None:
            abort(404)
        with context.sessions() as session:
            verdict = reply_verdict(session, found.contact_id, context.clock.now(),
                                    timedelta(hours=context.config.consent.reply_after_opt_out_hours))
        if not verdict.allowed:
            add_error(form.text, refusal_words(verdict, context.config.consent.reply_after_opt_out_hours))
            return conversation_page(key, form, 422)
        sims = {m["name"] for m in context.modems()} | {m.name for m in context.config.modems}
        sim = found.sim if found.sim in sims else None  # from the SIM they wrote to, while it is ours

        def along(conn: Connection, messages: list[NewMessage]) -> None:
            with Session(bind=conn) as session:  # joins the enqueue's transaction: both commit or neither
                audit.record(session, context.clock, REPLY_SENT, actor=current_user.account.name,
                             detail=f"message {messages[0].id} to {number}", address=client_address())
                session.flush()

        try:
            context.queue.enqueue_many([{"to": number, "text": form.text.data, "kind": "transactional", "sim": sim}],
                                       source=SOURCE, along=along)
        except RejectedMessage as exc:
            add_error(form.text, str(exc))
            return conversation_page(key, form, 400)
        flash(gettext("Reply queued."), "info")
        return redirect(url_for("console.conversation", key=key))


    @blueprint.route("/inbox/<key>/requests/<int:request_id>", methods=["POST"], endpoint="opt_out_request")
    @login_required
    def opt_out_request(key: str, request_id: int) -> Any:
        """Staff's reading of a text that reads like a request to stop: an opt-out (logged in the
        ledger, from staff, naming the text) or not (marketing may go again)."""
        form = RequestDecisionForm()
        require_posted(form)
        number, user, now = number_for(key), current_user.account.name, context.clock.now()
        if form.decision.data == OptOutRequestDecision.OPTED_OUT:
            def along(session: Session, contact: Any, event: Any) -> None:
                requests.decide(session, request_id, OptOutRequestDecision.OPTED_OUT, user, now)
                audit.record(session, context.clock, OPTED_OUT, actor=user, detail=number, address=client_address())

            context.audience.opt_out(number, source=ConsentSource.STAFF, along=along,
                                     detail=f"{user} read a request to stop in an SMS (request {request_id})")
            flash(gettext("Opt-out logged: no more marketing goes to this number."), "info")
        else:
            with context.sessions.begin() as session:
                if requests.decide(session, request_id, OptOutRequestDecision.NOT_AN_OPT_OUT, user, now) is None:
                    abort(404)
                audit.record(session, context.clock, REQUEST_DISMISSED, actor=user, detail=number,
                             address=client_address())
            flash(gettext("Marked as no opt-out: marketing may go to this number again."), "info")
        return redirect(url_for("console.conversation", key=key))


def refusal_words(verdict: ReplyVerdict, hours: float) -> str:
    """Why a reply may not go, naming the opt-out (when, how) in the user's language."""
    when = format_datetime(verdict.opted_out_at, "short") if verdict.opted_out_at else "?"
    how = str(SOURCES.get(verdict.opted_out_by or "", verdict.opted_out_by or "?"))
    if verdict.everything:
        return gettext("Not sent: this contact asked for no messages at all (STOP ALL) on %(when)s (%(how)s) and has "
                       "not written since. A reply may only answer a message they send after that, within "
                       "%(hours)s hours.", when=when, how=how, hours=f"{hours:g}")
    return gettext("Not sent: this contact opted out on %(when)s (%(how)s) and has not written since. A reply may "
                   "only answer a message they send after that, within %(hours)s hours.",
                   when=when, how=how, hours=f"{hours:g}")


def _listing(context: WebContext) -> dict[str, Any]:
    after = inbox.Cursor.decode(request.args.get("after"))
    with context.sessions() as session:
        page = inbox.lines(session, after)
    return {"page": page, "after": request.args.get("after") if after else None}
