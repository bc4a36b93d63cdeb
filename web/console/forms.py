"""The console's forms (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from gateway.users.accounts import MAX_NAME, MAX_PASSWORD, MIN_PASSWORD


class LoginForm(FlaskForm):
    name = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    submit = SubmitField(lazy_gettext("Sign in"))


class SetupForm(FlaskForm):
    code = StringField(lazy_gettext("Setup code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(lazy_gettext("Admin user name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    password = PasswordField(lazy_gettext("Password"),
                             validators=[DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD)])
    confirm = PasswordField(lazy_gettext("Password again"),
                            validators=[DataRequired(), EqualTo("password", message=lazy_gettext("The passwords differ."))])
    submit = SubmitField(lazy_gettext("Create the admin"))


class LogoutForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Sign out"))


class LanguageForm(FlaskForm):
    language = SelectField(lazy_gettext("Language"), choices=[])
    submit = SubmitField(lazy_gettext("Change"))
