"""/settings/webhooks: endpoints (add with the API's URL rules, deactivate or activate, rotate the
secret, shown once), each with its delivery log (status, attempts, the receiver's answer excerpt),
"send test" and replay."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from gateway.webhooks.endpoints import ReplayRefused
from gateway.webhooks.outbox import EVENTS
from web.api.messages import url_problem
from web.console.forms import confirm_page, form_status, require_posted
from web.console.labels import words_matching
from web.console.rows import or_404
from web.console.security import admin_required
from web.console.settings.common import record
from web.console.settings.keys import CheckboxesField
from web.context import WebContext

WEBHOOK_ADDED = "webhook_added"
WEBHOOK_TESTED = "webhook_tested"
WEBHOOK_REPLAYED = "webhook_replayed"
WEBHOOK_DEACTIVATED = "webhook_deactivated"
WEBHOOK_ACTIVATED = "webhook_activated"
WEBHOOK_ROTATED = "webhook_secret_rotated"
ROTATION_GRACE = timedelta(days=1)  # the API's default: the old secret signs too for a day
LOG_LENGTH = 50


def event_choices() -> list[tuple[str, str]]:
    words = {"message.status": gettext("a message's status changed"),
             "message.received": gettext("an SMS came in"),
             "contact.opted_out": gettext("a contact opted out"),
             "contact.opted_in": gettext("a contact opted in")}
    return [(event, f"{event}: {words[event]}") for event in EVENTS]


class EndpointForm(FlaskForm):
    url = StringField(lazy_gettext("Address (URL)"), validators=[DataRequired(), Length(max=2000)])
    events = CheckboxesField(lazy_gettext("Events it gets"), choices=[])
    description = StringField(lazy_gettext("Description (optional)"), validators=[Length(max=200)])
    submit = SubmitField(lazy_gettext("Add the webhook"))


class ActionForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Confirm"))


def register(blueprint: Blueprint, context: WebContext) -> None:
    hooks = context.webhooks

    def endpoint_or_404(endpoint_id: int) -> dict[str, Any]:
        return or_404(hooks.get_endpoint(endpoint_id))

    def question(endpoint: dict[str, Any], what: str) -> str | None:
        """The page that asks before `what` (activate, deactivate, rotate) is done to a webhook; None once
        a valid POST confirms it."""
        return confirm_page(ActionForm(), "console/settings/webhook_confirm.html", endpoint=endpoint, what=what)

    @blueprint.route("/settings/webhooks", methods=["GET", "POST"], endpoint="settings_webhooks")
    @admin_required
    def webhooks_page() -> Any:
        form = EndpointForm()
        form.events.choices = event_choices()
        if not form.is_submitted():
            form.events.data = list(EVENTS[:2])
        else:
            valid = form.validate()  # (it clears the errors set before it)
            url = (form.url.data or "").strip()
            problem = url_problem(url, hooks.policy) if url else None
            if problem:
                form.url.errors = [gettext("This address cannot be used: %(problem)s", problem=problem)]
            if not form.events.data:
                form.events.errors = [gettext("Choose at least one.")]
            if valid and not problem and form.events.data:
                made = hooks.create_endpoint(url, form.events.data,
                                             description=(form.description.data or "").strip() or None)
                record(context, WEBHOOK_ADDED, f"{made['id']}: {made['url']} ({', '.join(made['events'])})")
                return render_template("console/settings/webhook_secret.html", endpoint=made, new=True)
        return render_template("console/settings/webhooks.html", form=form,
                               endpoints=hooks.list_endpoints()), form_status(form)

    @blueprint.route("/settings/webhooks/<int:endpoint_id>", endpoint="settings_webhook")
    @admin_required
    def endpoint_page(endpoint_id: int) -> Any:
        endpoint = endpoint_or_404(endpoint_id)
        endpoint = {**endpoint, "previous_secret_valid_until": _time(endpoint["previous_secret_valid_until"])}
        return render_template("console/settings/webhook.html", endpoint=endpoint, form=ActionForm(),
                               deliveries=shown(hooks.deliveries(endpoint_id=endpoint_id, limit=LOG_LENGTH)))

    @blueprint.route("/settings/webhooks/<int:endpoint_id>/log", endpoint="settings_webhook_log")
    @admin_required
    def delivery_log(endpoint_id: int) -> Any:
        endpoint_or_404(endpoint_id)
        return render_template("console/settings/_deliveries.html", endpoint_id=endpoint_id, form=ActionForm(),
                               deliveries=shown(hooks.deliveries(endpoint_id=endpoint_id, limit=LOG_LENGTH)))

    @blueprint.route("/settings/webhooks/<int:endpoint_id>/test", methods=["POST"], endpoint="settings_webhook_test")
    @admin_required
    def send_test(endpoint_id: int) -> Any:
        endpoint = endpoint_or_404(endpoint_id)
        require_posted(ActionForm())
        try:
            delivery = hooks.send_test(endpoint_id)
        except ReplayRefused:
            flash(gettext("A deactivated webhook gets nothing: activate it first."), "error")
        else:
            record(context, WEBHOOK_TESTED, f"{endpoint_id}: {endpoint['url']}")
            flash(gettext("Test event sent (delivery %(id)s); the log below shows the answer.",
                          id=delivery["id"] if delivery else "?"), "info")
        return redirect(url_for("console.settings_webhook", endpoint_id=endpoint_id))

    @blueprint.route("/settings/webhooks/deliveries/<int:delivery_id>/replay", methods=["POST"],
                     endpoint="settings_webhook_replay")
    @admin_required
    def replay(delivery_id: int) -> Any:
        old = hooks.delivery(delivery_id)
        if old is None or old["endpoint_id"] is None:
            abort(404)
        require_posted(ActionForm())
        try:
            new = hooks.replay(delivery_id)
        except ReplayRefused as exc:
            flash(gettext("Not sent again: %(reason)s", reason=_refusal(str(exc))), "error")
        else:
            record(context, WEBHOOK_REPLAYED, f"delivery {delivery_id} as {new['id'] if new else '?'}")
            flash(gettext("Sent again as delivery %(id)s.", id=new["id"] if new else "?"), "info")
        return redirect(url_for("console.settings_webhook", endpoint_id=old["endpoint_id"]))

    @blueprint.route("/settings/webhooks/<int:endpoint_id>/active", methods=["GET", "POST"],
                     endpoint="settings_webhook_active")
    @admin_required
    def toggle(endpoint_id: int) -> Any:
        endpoint = endpoint_or_404(endpoint_id)
        now_active = not endpoint["active"]
        asking = question(endpoint, "activate" if now_active else "deactivate")
        if asking is not None:
            return asking
        hooks.update_endpoint(endpoint_id, {"active": now_active})
        record(context, WEBHOOK_ACTIVATED if now_active else WEBHOOK_DEACTIVATED, f"{endpoint_id}: {endpoint['url']}")
        flash(gettext("Webhook activated.") if now_active else
              gettext("Webhook deactivated: its waiting deliveries are cancelled."), "info")
        return redirect(url_for("console.settings_webhook", endpoint_id=endpoint_id))

    @blueprint.route("/settings/webhooks/<int:endpoint_id>/rotate", methods=["GET", "POST"],
                     endpoint="settings_webhook_rotate")
    @admin_required
    def rotate(endpoint_id: int) -> Any:
        endpoint = endpoint_or_404(endpoint_id)
        asking = question(endpoint, "rotate")
        if asking is not None:
            return asking
        rotated = hooks.rotate_secret(endpoint_id, grace=ROTATION_GRACE)
        record(context, WEBHOOK_ROTATED, f"{endpoint_id}: {endpoint['url']}")
        return render_template("console/settings/webhook_secret.html", endpoint=rotated, new=False)


def shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deliveries as the log shows them: their times as datetimes, for Babel to write in the user's locale."""
    return [{**row, "created_at": _time(row["created_at"])} for row in rows]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# why the domain refuses a replay (gateway.webhooks.endpoints.ReplayRefused), by a phrase in it
REPLAY_REFUSALS = (
    (re.compile(r"still pending"),
     lazy_gettext("the event is still on its way to this receiver; wait until it is delivered or failed")),
    (re.compile(r"deactivated"), lazy_gettext("the webhook is deactivated")),
)


def _refusal(reason: str) -> str:
    return words_matching(REPLAY_REFUSALS, reason, lazy_gettext("the receiver no longer takes it"))
