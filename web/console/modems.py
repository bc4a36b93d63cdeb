"""The modems page: each modem's details as /api/v1/modems has them (gateway.sims.status), and for
admins a test SMS through the queue pinned to the modem's SIM, a USSD code (a balance check) and a
restart (the supervisor's reset step).

A USSD answer takes the network seconds: the POST starts the request and goes back to the page,
which shows the answer when it comes (htmx polls the answer's fragment; without JavaScript, a
reload). Every action is audit-logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from gateway.outbound.new_message import RejectedMessage
from gateway.sims.control import BadCode, Job, UnknownModem
from gateway.users import audit
from web.console.dashboard import ModemCard, card
from web.console.forms import confirm_page
from web.console.security import admin_required, client_address
from web.context import WebContext

TEST_SMS = "test_sms"
USSD = "ussd"
RESTART = "modem_restart"
ACTIONS = (TEST_SMS, USSD, RESTART)
MAX_TEST_TEXT = 160


class TestSmsForm(FlaskForm):
    to = StringField(lazy_gettext("To (phone number)"), validators=[DataRequired(), Length(max=32)])
    text = TextAreaField(lazy_gettext("Text"), validators=[DataRequired(), Length(max=MAX_TEST_TEXT)])
    submit = SubmitField(lazy_gettext("Send a test SMS"))


class UssdForm(FlaskForm):
    code = StringField(lazy_gettext("USSD code"), validators=[DataRequired(), Length(max=32)], default="*100#")
    submit = SubmitField(lazy_gettext("Check the balance"))


class RestartForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Restart the modem"))


@dataclass(frozen=True)
class ModemDetails:
    """A modem as the page shows it: the dashboard's card and what only this page shows."""

    card: ModemCard
    port: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    imei: str | None
    iccid: str | None
    imsi: str | None


def details(modem: dict[str, Any]) -> ModemDetails:
    identity = modem.get("identity") or {}
    return ModemDetails(card=card(modem), port=modem.get("port"), manufacturer=identity.get("manufacturer"),
                        model=identity.get("model"), firmware=identity.get("firmware"), imei=identity.get("imei"),
                        iccid=identity.get("iccid"), imsi=identity.get("imsi"))


def register(blueprint: Blueprint, context: WebContext) -> None:
    def find(name: str) -> dict[str, Any]:
        for modem in context.modems():
            if modem["name"] == name:
                return modem
        abort(404)

    def record(action: str, detail: str) -> None:
        with context.sessions.begin() as session:
            audit.record(session, context.clock, action, actor=current_user.account.name, detail=detail,
                         address=client_address())

    def forms(name: str) -> dict[str, FlaskForm]:
        prefix = f"m{name}-"
        test = TestSmsForm(prefix=prefix)
        if not test.is_submitted():
            test.text.data = gettext("Test message from the gateway")
        return {"test": test, "ussd": UssdForm(prefix=prefix), "restart": RestartForm(prefix=prefix)}

    @blueprint.route("/modems", endpoint="modems")
    @login_required
    def modems_page() -> Any:
        shown = [details(m) for m in context.modems()]
        job = _job(context, request.args.get("ussd", type=int))
        return render_template("console/modems.html", modems=shown, job=job,
                               forms={m.card.name: forms(m.card.name) for m in shown} if current_user.is_admin else {},
                               can_act=context.control is not None)

    @blueprint.route("/modems/<name>/test", methods=["POST"], endpoint="modem_test")
    @admin_required
    def send_test(name: str) -> Any:
        find(name)
        form = forms(name)["test"]
        if not form.validate_on_submit():
            flash(gettext("Give a phone number and a text of at most %(n)s characters.", n=MAX_TEST_TEXT), "error")
            return redirect(url_for("console.modems"))
        try:
            message = context.queue.enqueue(form.to.data.strip(), form.text.data, sim=name, kind="transactional",
                                            source="console")
        except RejectedMessage as exc:
            flash(gettext("Not queued: %(reason)s", reason=_rejection(exc)), "error")
            return redirect(url_for("console.modems"))
        record(TEST_SMS, f"{name} to {message.to_number}: message {message.id}")
        flash(gettext("Test SMS queued (message %(id)s) on %(modem)s.", id=message.id, modem=name), "info")
        return redirect(url_for("console.modems"))

    @blueprint.route("/modems/<name>/ussd", methods=["POST"], endpoint="modem_ussd")
    @admin_required
    def ussd(name: str) -> Any:
        find(name)
        form = forms(name)["ussd"]
        if context.control is None or not form.validate_on_submit():
            abort(400)
        try:
            job = context.control.ussd(name, form.code.data)
        except BadCode:
            flash(gettext("A USSD code is digits, * and # (such as *100#)."), "error")
            return redirect(url_for("console.modems"))
        except UnknownModem:
            abort(404)
        record(USSD, f"{name}: {job.code}")
        return redirect(url_for("console.modems", ussd=job.id, _anchor=f"ussd-{job.id}"))

    @blueprint.route("/modems/ussd/<int:job_id>", endpoint="modem_ussd_answer")
    @admin_required
    def ussd_answer(job_id: int) -> Any:
        job = _job(context, job_id)
        if job is None:
            abort(404)
        return render_template("console/_ussd_answer.html", job=job)

    @blueprint.route("/modems/<name>/restart", methods=["GET", "POST"], endpoint="modem_restart")
    @admin_required
    def restart(name: str) -> Any:
        modem = find(name)
        asking = confirm_page(forms(name)["restart"], "console/modem_restart.html", ask=context.control is None,
                              modem=details(modem), can_restart=context.control is not None)
        if asking is not None:
            return asking
        try:
            context.control.restart(name)
        except UnknownModem:
            abort(404)
        record(RESTART, name)
        flash(gettext("%(modem)s is restarting. It comes back by itself once it has started again.", modem=name),
              "info")
        return redirect(url_for("console.modems"))


def _job(context: WebContext, job_id: int | None) -> Job | None:
    if job_id is None or context.control is None or not current_user.is_admin:
        return None
    return context.control.job(job_id)


def _rejection(exc: RejectedMessage) -> str:
    """The queue's refusal, in the user's words for the fields this form has."""
    if exc.field == "to":
        return gettext("that is not a phone number the gateway can send to")
    if exc.field == "text":
        return gettext("the text cannot be sent")
    return gettext("the message was refused")
