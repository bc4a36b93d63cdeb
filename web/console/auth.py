"""First-run setup, sign-in and sign-out.

`/` shows the setup form while no user exists (the first admin needs the code the daemon printed);
sign-in is throttled per client address and per user name, on the Clock's time; each outcome goes to
the audit log.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_timedelta, gettext, lazy_gettext
from flask_login import current_user, login_user, logout_user

from gateway.users import accounts, audit
from web.console.forms import LoginForm, LogoutForm, SetupForm
from web.console.labels import USER_NAME_REFUSAL, words_matching
from web.console.security import ConsoleUser, client_address, safe_next, throttles
from web.context import WebContext


def _start_session(account: accounts.Account, context: WebContext) -> None:
    session.clear()  # nothing from before signing in carries over
    now = context.clock.time()
    session["since"] = session["seen"] = now
    login_user(ConsoleUser(account))


def _too_many(wait_s: float) -> str:
    """How long to wait, in whole minutes, in the user's language ("15 minutes", "15 минут", "15分钟")."""
    wait = format_timedelta(timedelta(minutes=max(1, math.ceil(wait_s / 60))), granularity="minute", threshold=1000)
    return gettext("Too many failed attempts. Try again in %(wait)s.", wait=wait)


def register(blueprint: Blueprint, context: WebContext) -> Callable[[], Any]:
    """Adds sign-in and sign-out; returns the setup view, which `/` shows while no user exists."""

    def setup() -> Any:
        """The first admin, made with the setup code (GET and POST on `/` while no user exists)."""
        form = SetupForm()
        address = client_address()
        status = 200
        if form.is_submitted():
            wait = throttles(current_app).wait_s(address, None)
            if wait:
                form.form_errors.append(_too_many(wait))
                status = 429
            elif form.validate():
                try:
                    account = accounts.create_first_admin(context.sessions, context.clock, form.code.data,
                                                          form.name.data, form.password.data, address=address)
                except accounts.UserError as exc:
                    throttles(current_app).failed(address, None)
                    form.form_errors.append(_setup_error(str(exc)))
                    status = 400
                else:
                    _start_session(account, context)
                    flash(gettext("Welcome. You are the console's admin."), "info")
                    return redirect(url_for("console.dashboard"))
            else:
                status = 400
        return render_template("console/setup.html", form=form), status

    @blueprint.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if not accounts.any_user(context.sessions):
            return redirect(url_for("console.dashboard"))
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")) or url_for("console.dashboard"))
        form = LoginForm()
        address = client_address()
        status = 200
        if form.validate_on_submit():
            name = form.name.data.strip()
            wait = throttles(current_app).wait_s(address, name)
            account = None if wait else accounts.authenticate(context.sessions, name, form.password.data)
            if wait:
                form.form_errors.append(_too_many(wait))
                status = 429
            elif account is None:
                throttles(current_app).failed(address, name)
                _audit(context, audit.LOGIN_FAILED, None, name, address)
                form.form_errors.append(gettext("Wrong user name or password."))
                status = 401
            else:
                throttles(current_app).succeeded(name)
                _start_session(account, context)
                _audit(context, audit.LOGIN, account.name, "", address)
                return redirect(safe_next(request.args.get("next")) or url_for("console.dashboard"))
        elif form.is_submitted():
            status = 400
        return render_template("console/login.html", form=form), status

    @blueprint.route("/logout", methods=["POST"])
    def logout() -> Any:
        if current_user.is_authenticated and LogoutForm().validate_on_submit():
            _audit(context, audit.LOGOUT, current_user.account.name, "", client_address())
        logout_user()
        session.clear()
        return redirect(url_for("console.login"))

    return setup


# the domain's refusals of the first-run setup (gateway.users.accounts), by how each begins
SETUP_REFUSALS = (
    (re.compile(r"^that is not the setup code"), lazy_gettext("That is not the setup code the gateway printed at start.")),
    (re.compile(r"^the console is set up already"), lazy_gettext("The console is set up already: sign in.")),
    USER_NAME_REFUSAL,
)


def _setup_error(message: str) -> str:
    """The domain's refusal in the user's language."""
    return words_matching(SETUP_REFUSALS, message, lazy_gettext("The admin could not be created."))


def _audit(context: WebContext, action: str, actor: str | None, detail: str, address: str) -> None:
    with context.sessions.begin() as session_:
        audit.record(session_, context.clock, action, actor=actor, detail=detail, address=address)
