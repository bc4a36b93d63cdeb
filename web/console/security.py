"""Who may see what: sign-in sessions, their expiry, roles, CSRF, the cookie's flags, the secret key.

Sessions live in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when the request came over
HTTPS). What it says is checked on every console request against the daemon's Clock: a session idle
for `IDLE_S` or older than `MAX_AGE_S` is over, and a changed password ends every session made with
the old one (the user's session key is part of the id Flask-Login keeps).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_login import AnonymousUserMixin, LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from gateway.users import accounts
from gateway.users.throttle import Throttle
from web.context import WebContext

log = logging.getLogger(__name__)

IDLE_S = 8 * 3600  # a shop day: a till left signed in overnight asks again in the morning
MAX_AGE_S = 7 * 86400
SECRET_FILE = "console-secret"
# failed sign-ins: per user name (guessing one account's password), per client address (trying many)
PER_USER = (5, 15 * 60)
PER_ADDRESS = (20, 15 * 60)


class ConsoleUser:
    """Flask-Login's view of an Account."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: accounts.Account) -> None:
        self.account = account

    def get_id(self) -> str:
        return f"{self.account.id}:{self.account.session_key}"

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin


class Anonymous(AnonymousUserMixin):
    is_admin = False
    account = None


class CookieSessions(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (a reverse proxy's TLS too,
    when the app trusts its headers), so a console behind TLS never sends it in clear."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def secret_key(data_dir: str) -> str:
    """The key that signs session cookies, made once and kept in the data directory (0600), so a
    restart keeps people signed in; a data directory that cannot be written gets a key per process."""
    path = Path(data_dir) / SECRET_FILE
    try:
        if path.exists():
            return path.read_text().strip()
        if not path.parent.is_dir():
            raise OSError("no such directory")
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(key)
        return key
    except OSError as exc:
        log.warning("console sessions end at restart: cannot keep a key in %s (%s)", path, exc)
        return secrets.token_urlsafe(48)


class Throttles:
    """The sign-in throttles of one app, on the Clock's monotonic time."""

    def __init__(self, context: WebContext) -> None:
        self.clock = context.clock
        self.by_user = Throttle(*PER_USER)
        self.by_address = Throttle(*PER_ADDRESS)

    def wait_s(self, address: str, name: str | None) -> float:
        now = self.clock.monotonic()
        waits = [self.by_address.wait_s(address, now)]
        if name:
            waits.append(self.by_user.wait_s(name.strip().lower(), now))
        return max(waits)

    def failed(self, address: str, name: str | None) -> None:
        now = self.clock.monotonic()
        self.by_address.failed(address, now)
        if name:
            self.by_user.failed(name.strip().lower(), now)

    def succeeded(self, name: str) -> None:
        self.by_user.succeeded(name.strip().lower())


def install(app: Flask, blueprint: Blueprint, context: WebContext) -> None:
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(context.config.gateway.data_dir)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="gsmgw_session",
                      WTF_CSRF_CHECK_DEFAULT=False,  # the API's bearer keys need none; the console checks its own
                      WTF_CSRF_TIME_LIMIT=None)  # the token lives as long as the session, which expires itself
    app.session_interface = CookieSessions()
    csrf = CSRFProtect(app)
    app.extensions["gsmgw_console_throttles"] = Throttles(context)

    manager = LoginManager(app)
    manager.login_view = "console.login"
    manager.login_message = None  # the sign-in page says what it is
    manager.anonymous_user = Anonymous
    manager.session_protection = None  # expiry and session keys below do this job, without guessing at IPs

    @manager.user_loader
    def load(user_id: str) -> ConsoleUser | None:
        ident, _, key = user_id.partition(":")
        if not ident.isdigit():
            return None
        account = accounts.get(context.sessions, int(ident))
        if account is None or account.session_key != key or account.disabled:
            return None
        return ConsoleUser(account)

    @blueprint.before_request
    def guard() -> Any:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()  # every state change is a POST with the form's token
        if current_user.is_authenticated:
            now = context.clock.time()
            since, seen = session.get("since", now), session.get("seen", now)
            if now - seen > IDLE_S or now - since > MAX_AGE_S:
                logout_user()
                session.clear()
                flash(gettext("Your session has ended. Please sign in again."), "info")
                return redirect(url_for("console.login", next=request.full_path if request.method == "GET" else None))
            session["seen"] = now
        return None

    @blueprint.after_request
    def headers(response: Any) -> Any:
        # nothing from elsewhere: no scripts, styles, fonts or frames from another host
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def throttles(app: Flask) -> Throttles:
    return app.extensions["gsmgw_console_throttles"]


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Signed in and an admin, else the sign-in page (not signed in) or 403 (staff)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("console.login", next=request.full_path))
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def client_address() -> str:
    return request.remote_addr or "unknown"


def safe_next(target: str | None) -> str | None:
    """A page of this console to go back to after signing in; anything else (another host) is None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
