"""The console's forms (Flask-WTF: each carries its CSRF token), and the steps every page takes with one:
a change goes on only with a valid token, a destructive one asks first, a posted change is made, flashed
and followed by a redirect, a refused form comes back with its errors and a 4xx status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response
from wtforms import Field, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from gateway.users.accounts import MAX_NAME, MAX_PASSWORD, MIN_PASSWORD


def new_password_field(label: str) -> PasswordField:
    """A password being set: the accounts' length rules."""
    return PasswordField(label, validators=[DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD)])


def password_again_field() -> PasswordField:
    """The same password typed again, beside a `password` field."""
    return PasswordField(lazy_gettext("Password again"),
                         validators=[DataRequired(), EqualTo("password", message=lazy_gettext("The passwords differ."))])


class LoginForm(FlaskForm):
    name = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    submit = SubmitField(lazy_gettext("Sign in"))


class SetupForm(FlaskForm):
    code = StringField(lazy_gettext("Setup code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(lazy_gettext("Admin user name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    password = new_password_field(lazy_gettext("Password"))
    confirm = password_again_field()
    submit = SubmitField(lazy_gettext("Create the admin"))


class LogoutForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Sign out"))


class LanguageForm(FlaskForm):
    language = SelectField(lazy_gettext("Language"), choices=[])
    submit = SubmitField(lazy_gettext("Change"))


def require_posted(form: FlaskForm) -> None:
    """A change goes on only when the POST carries the form's valid CSRF token (and fields): else 400."""
    if not form.validate_on_submit():
        abort(400)


def confirm_page(form: FlaskForm, template: str, ask: bool = False, **values: object) -> str | None:
    """A destructive action's question: on GET (or whenever `ask`, as when the action no longer applies)
    the page that says what would happen, with `form` to confirm it; on a POST None, so the action goes
    on, once `require_posted` lets it through."""
    if request.method == "GET" or ask:
        return render_template(template, form=form, **values)
    require_posted(form)
    return None


def form_status(form: FlaskForm, refused: int = 400) -> int:
    """The status of a form's page: 200 when it is shown, `refused` when a POST comes back with its errors."""
    return refused if form.is_submitted() else 200


def add_error(field: Field, reason: str) -> None:
    """A reason under a field, after those its validators gave (the field keeps what was typed)."""
    field.errors = [*field.errors, reason]


def posted_change(form: FlaskForm, sessions: sessionmaker[Session], change: Callable[[Session], str], done: str, *,
                  refusal: tuple[type[Exception], Callable[[Any, Any], None]] | None = None) -> Response | None:
    """A form's change, the same on every page: when its POST is valid, `change` makes it (and audits
    it) in one transaction and says where the browser goes next, sent there with `done` flashed. A
    `refusal` is the domain's exception and how it goes on the form, `show(form, exc)`; nothing of the
    change is kept. None when the page is to show the form: on GET, for a form that did not validate,
    or after a refusal."""
    if not form.validate_on_submit():
        return None
    refused, show = refusal or ((), None)
    try:
        with sessions.begin() as session:
            target = change(session)
    except refused as exc:
        assert show is not None
        show(form, exc)
        return None
    flash(done, "info")
    return redirect(target)
