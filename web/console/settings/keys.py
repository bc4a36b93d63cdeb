"""/settings/keys: API keys. A new key's token is shown once, on the answer to the POST that made it
(the domain keeps only its hash); revoking asks first and says what stops working."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, SubmitField, widgets
from wtforms.validators import DataRequired, Length

from gateway.apikeys import keys
from web.console.forms import confirm_page, form_status
from web.console.rows import or_404
from web.console.security import admin_required
from web.console.settings.common import record
from web.context import WebContext

KEY_CREATED = "key_created"
KEY_REVOKED = "key_revoked"


def scope_choices() -> list[tuple[str, str]]:
    return [("send", gettext("send: queue and cancel messages, opt-ins and opt-outs")),
            ("contacts", gettext("contacts: add, change and erase contacts and groups")),
            ("read", gettext("read: messages, inbound, contacts, modems")),
            ("admin", gettext("admin: keys and webhooks, and everything above"))]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class KeyForm(FlaskForm):
    name = StringField(lazy_gettext("Name (who uses it)"), validators=[DataRequired(), Length(max=100)])
    scopes = CheckboxesField(lazy_gettext("What it may do"), choices=[])
    submit = SubmitField(lazy_gettext("Create the key"))


class RevokeForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Revoke the key"))


def register(blueprint: Blueprint, context: WebContext) -> None:
    def key_form() -> KeyForm:
        form = KeyForm()
        form.scopes.choices = scope_choices()
        if not form.is_submitted():
            form.scopes.data = ["send", "read"]
        return form

    @blueprint.route("/settings/keys", methods=["GET", "POST"], endpoint="settings_keys")
    @admin_required
    def keys_page() -> Any:
        form = key_form()
        if form.is_submitted():
            valid = form.validate()
            if not form.scopes.data:
                form.scopes.errors = [gettext("Choose at least one.")]
            elif valid:
                try:
                    new = keys.create(context.sessions, context.clock, form.name.data, form.scopes.data)
                except ValueError:
                    form.name.errors = [gettext("The name must be 1 to 100 characters.")]
                else:
                    record(context, KEY_CREATED,
                           f"{new.info.name} ({new.info.prefix}…): {', '.join(sorted(new.info.scopes))}")
                    return render_template("console/settings/key_created.html", key=new)
        return render_template("console/settings/keys.html", form=form,
                               keys=keys.list_keys(context.sessions)), form_status(form)

    @blueprint.route("/settings/keys/<int:key_id>/revoke", methods=["GET", "POST"], endpoint="settings_key_revoke")
    @admin_required
    def revoke(key_id: int) -> Any:
        key = or_404(keys.get(context.sessions, key_id))
        asking = confirm_page(RevokeForm(), "console/settings/key_revoke.html", ask=key.revoked_at is not None, key=key)
        if asking is not None:
            return asking
        keys.revoke(context.sessions, context.clock, key_id)
        record(context, KEY_REVOKED, f"{key.name} ({key.prefix}…)")
        flash(gettext("Key %(name)s revoked: requests with it are refused from now on.", name=key.name), "info")
        return redirect(url_for("console.settings_keys"))
