"""Quick send (`/send`, staff and admins): a number or a contact, a template or free text, the part
counter, and the queue's own enqueue, as the REST API calls it.

The number is parsed by the queue (`gateway.core.numbers`), a template's placeholders are filled
with the contact's values (`gateway.outbound.templating`), a marketing template stays marketing, and
the send-time consent check (`ConsentCheck.before_queueing`, the engine's own rule) refuses at once
what it would only suppress later, saying why. The message and its audit entry commit together;
the page then shows the message's timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import Connection, select
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length

from gateway.audience import contacts
from gateway.audience.models import Contact
from gateway.consent.send_check import ConsentCheck
from gateway.core.numbers import normalise
from gateway.outbound.models import MessageTemplate
from gateway.outbound.new_message import MAX_TEXT, NewMessage, RejectedMessage
from gateway.outbound.templating import MissingVariable, TemplateError, contact_values, render
from gateway.outbound.verdict import Verdict
from gateway.settings.effective import Effective
from gateway.users import audit
from web.console import counter
from web.console.labels import words_matching
from web.console.security import client_address
from web.context import WebContext

SOURCE = "console"
KINDS = (("transactional", lazy_gettext("Transactional")), ("marketing", lazy_gettext("Marketing")))


class SendForm(FlaskForm):
    to = StringField(lazy_gettext("Number"), validators=[Length(max=32)])
    template = SelectField(lazy_gettext("Template"), choices=[], validate_choice=False)
    text = TextAreaField(lazy_gettext("Message"), validators=[Length(max=10 * MAX_TEXT)])
    kind = SelectField(lazy_gettext("Kind"), choices=[], default="transactional")
    use_template = SubmitField(lazy_gettext("Use template"))
    check = SubmitField(lazy_gettext("Check"))
    use_gsm7 = SubmitField(lazy_gettext("Use the GSM-7 text"))
    send = SubmitField(lazy_gettext("Send"))


@dataclass(frozen=True)
class Recipient:
    number: str  # E.164
    contact: Contact | None


def refusal_words(verdict: Verdict) -> str:
    """Why the consent check refuses a send, in the user's language (its reason is the log's English)."""
    return words_matching(CONSENT_REFUSALS, verdict.reason,
                          lazy_gettext("Not sent: the consent rules do not allow this message."))


# the consent check's reasons (gateway.consent), by how each begins or a phrase in it
CONSENT_REFUSALS = (
    (re.compile(r"^opted out of all"), lazy_gettext("Not sent: this contact asked to receive no messages at all (STOP ALL).")),
    (re.compile(r"^opted out"), lazy_gettext("Not sent: this contact opted out of marketing messages.")),
    (re.compile(r"awaiting double opt-in"), lazy_gettext("Not sent: this contact has not confirmed the opt-in yet.")),
    (re.compile(r"^marketing without consent"),
     lazy_gettext("Not sent: there is no consent on record for marketing to this contact.")),
    (re.compile(r"^frequency cap"),
     lazy_gettext("Not sent: this contact has had as many messages as the frequency cap allows.")),
)


def register(blueprint: Blueprint, context: WebContext) -> None:
    # the rules in force (the console's quiet hours and cap), as the send-time check reads them
    check = ConsentCheck(context.sessions, context.clock, Effective(context.config, context.sessions).rules,
                         default_timezone=context.config.gateway.timezone)
    region = context.queue.default_region

    def recipient(raw: str) -> Recipient:
        number = normalise(raw, region)  # InvalidNumber (a ValueError) says what is wrong
        with context.sessions() as session:
            contact = contacts.find(session, number)
            if contact is not None:
                session.expunge(contact)
        return Recipient(number, contact)

    def templates() -> list[MessageTemplate]:
        with context.sessions() as session:
            return list(session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)))

    def template_by_id(raw: str | None) -> MessageTemplate | None:
        if not raw or not raw.isdigit():
            return None
        with context.sessions() as session:
            return session.get(MessageTemplate, int(raw))

    def page(form: SendForm, *, errors: list[str] | None = None, status: int = 200) -> Any:
        choices = templates()
        form.template.choices = [("", gettext("None: write the text"))] + [(str(t.id), t.name) for t in choices]
        query = request.args.get("q", "").strip()
        with context.sessions() as session:
            found = contacts.matching(session, query) if query else []
            for contact in found:
                session.expunge(contact)
        chosen = None
        if form.to.data:
            try:
                chosen = recipient(form.to.data)
            except ValueError:
                chosen = None
        text = form.text.data or ""
        templated = bool(form.template.data) and counter.has_placeholders(text)  # free text is sent as typed
        spread = (counter.spread(text, [contact_values(chosen.contact.name, chosen.contact.fields)],
                                 ref16=context.queue.ref16)
                  if templated and chosen is not None and chosen.contact is not None else None)
        return render_template("console/send.html", form=form, errors=errors or [], query=query, found=found,
                               count=counter.count(text, ref16=context.queue.ref16), spread=spread,
                               chosen=chosen, placeholders=templated,
                               offer_fix=True), status

    @blueprint.route("/send", methods=["GET", "POST"], endpoint="send")
    @login_required
    def send_page() -> Any:
        form = SendForm()
        form.kind.choices = list(KINDS)
        if request.method == "GET":
            form.to.data = request.args.get("to", "")
            return page(form)
        if not form.validate_on_submit():
            return page(form, errors=[e for errs in form.errors.values() for e in errs], status=400)
        template = template_by_id(form.template.data)
        if form.use_template.data:
            if template is not None:
                form.text.data = template.body
                form.kind.data = template.kind
            return page(form)
        if form.use_gsm7.data:
            fixed = counter.count(form.text.data or "", ref16=context.queue.ref16).fixed_text
            if fixed is not None:
                form.text.data = fixed
            return page(form)
        if not form.send.data:  # "Check", or Enter in a field
            return page(form)
        return send(form, template)

    def send(form: SendForm, template: MessageTemplate | None) -> Any:
        try:
            to = recipient(form.to.data or "")
        except ValueError:
            return page(form, errors=[gettext("%(number)s is not a phone number: check the digits and the country code.",
                                              number=form.to.data or "")], status=422)
        kind = form.kind.data if form.kind.data in ("transactional", "marketing") else "transactional"
        if template is not None and template.kind == "marketing" and kind != "marketing":
            # as transactional it would skip consent, the frequency cap and quiet hours
            return page(form, errors=[gettext("The template %(name)s is marketing: it cannot be sent as transactional.",
                                              name=template.name)], status=422)
        text = form.text.data or ""
        if template is not None and counter.has_placeholders(text):  # a template's; free text goes as typed
            try:
                text = render(text, contact_values(to.contact.name, to.contact.fields) if to.contact else {})
            except MissingVariable as exc:
                return page(form, errors=[gettext("This contact has no value for %(names)s.",
                                                  names=", ".join("{" + n + "}" for n in exc.names))], status=422)
            except TemplateError:
                return page(form, errors=[gettext("The text has a broken placeholder: write {name} or {name|fallback}.")],
                            status=422)
        if not text.strip():
            return page(form, errors=[gettext("Write the message first.")], status=422)
        if len(text) > MAX_TEXT:
            return page(form, errors=[gettext("The message is %(n)s characters long; at most %(max)s can be sent.",
                                              n=len(text), max=MAX_TEXT)], status=422)
        verdict = check.before_queueing(to.number, kind, SOURCE)
        if verdict.action == "suppress":
            return page(form, errors=[refusal_words(verdict)], status=422)
        actor, address = current_user.account.name, client_address()

        def audited(conn: Connection, messages: list[NewMessage]) -> None:
            for message in messages:
                audit.record_within(conn, context.clock, audit.MESSAGE_SENT, actor=actor, address=address,
                                    detail=f"message {message.id} to {message.to_number}")

        try:
            message = context.queue.enqueue_many([{"to": to.number, "text": text, "kind": kind}], source=SOURCE,
                                                 along=audited)[0]
        except RejectedMessage as exc:
            return page(form, errors=[gettext("The message cannot be queued: %(reason)s", reason=exc.reason)], status=422)
        if verdict.action == "defer" and verdict.until is not None:
            flash(gettext("Queued: quiet hours for this contact, so it goes out at %(when)s.",
                          when=format_datetime(verdict.until, "short")), "info")
            return redirect(url_for("console.message", message_id=message.id))
        return redirect(url_for("console.message", message_id=message.id, sent=1))

