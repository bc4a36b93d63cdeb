"""/settings/users: who signs in to the console. Add with a role, set a new password (their sessions
end), disable or enable again; nobody disables themselves and the last admin stays (the domain's
rules, gateway.users.accounts)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from gateway.users import accounts
from gateway.users.accounts import MAX_NAME, MIN_PASSWORD
from web.console.forms import confirm_page, form_status, new_password_field, password_again_field
from web.console.labels import USER_NAME_REFUSAL, words_matching
from web.console.rows import or_404
from web.console.security import admin_required, client_address
from web.context import WebContext


class UserForm(FlaskForm):
    name = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    role = SelectField(lazy_gettext("Role"), choices=[])
    password = new_password_field(lazy_gettext("Password"))
    submit = SubmitField(lazy_gettext("Add the user"))


class PasswordForm(FlaskForm):
    password = new_password_field(lazy_gettext("New password"))
    confirm = password_again_field()
    submit = SubmitField(lazy_gettext("Set the password"))


class DisableForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Confirm"))


def role_choices() -> list[tuple[str, str]]:
    return [("staff", gettext("Staff: send, inbox, contacts, campaigns")),
            ("admin", gettext("Admin: everything, settings too"))]


def register(blueprint: Blueprint, context: WebContext) -> None:
    def user_or_404(user_id: int) -> accounts.Account:
        return or_404(accounts.get(context.sessions, user_id))

    @blueprint.route("/settings/users", methods=["GET", "POST"], endpoint="settings_users")
    @admin_required
    def users_page() -> Any:
        form = UserForm()
        form.role.choices = role_choices()
        if form.validate_on_submit():
            try:
                made = accounts.add(context.sessions, context.clock, form.name.data, form.password.data,
                                    form.role.data, actor=current_user.account.name, address=client_address())
            except accounts.UserError as exc:
                form.name.errors = [_user_error(str(exc))]
            else:
                flash(gettext("%(name)s can sign in now.", name=made.name), "info")
                return redirect(url_for("console.settings_users"))
        return render_template("console/settings/users.html", form=form,
                               users=accounts.all_users(context.sessions)), form_status(form)

    @blueprint.route("/settings/users/<int:user_id>/password", methods=["GET", "POST"],
                     endpoint="settings_user_password")
    @admin_required
    def password(user_id: int) -> Any:
        account = user_or_404(user_id)
        form = PasswordForm()
        if form.validate_on_submit():
            accounts.set_password(context.sessions, context.clock, account.name, form.password.data,
                                  actor=current_user.account.name, address=client_address())
            flash(gettext("New password set for %(name)s; their sessions have ended.", name=account.name), "info")
            if account.id == current_user.account.id:
                return redirect(url_for("console.login"))
            return redirect(url_for("console.settings_users"))
        return render_template("console/settings/user_password.html", account=account, form=form), form_status(form)

    @blueprint.route("/settings/users/<int:user_id>/disabled", methods=["GET", "POST"],
                     endpoint="settings_user_disabled")
    @admin_required
    def disabled(user_id: int) -> Any:
        account = user_or_404(user_id)
        asking = confirm_page(DisableForm(), "console/settings/user_disable.html", account=account,
                              yourself=account.id == current_user.account.id)
        if asking is not None:
            return asking
        try:
            accounts.set_disabled(context.sessions, context.clock, user_id, not account.disabled,
                                  actor=current_user.account.name, address=client_address())
        except accounts.UserError as exc:
            flash(_user_error(str(exc)), "error")
        else:
            flash(gettext("%(name)s is enabled again.", name=account.name) if account.disabled
                  else gettext("%(name)s is disabled and signed out.", name=account.name), "info")
        return redirect(url_for("console.settings_users"))


# the domain's refusals (gateway.users.accounts), by how each begins
USER_REFUSALS = (
    (re.compile(r"^a user named"), lazy_gettext("That user name is taken.")),
    USER_NAME_REFUSAL,
    (re.compile(r"^you cannot disable yourself"), lazy_gettext("You cannot disable yourself.")),
    (re.compile(r"^the last admin"), lazy_gettext("The last admin cannot be disabled: make another admin first.")),
    (re.compile(r"^a password"), lazy_gettext("A password needs at least %(n)s characters.", n=MIN_PASSWORD)),
)


def _user_error(message: str) -> str:
    """The domain's refusal in the user's language."""
    return words_matching(USER_REFUSALS, message, lazy_gettext("The user could not be changed."))
