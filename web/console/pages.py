"""The console's pages: the dashboard at `/` (the setup form while no user exists), the audit log
for admins, each user's language, the web app manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from gateway.users import accounts, audit
from web.console import dashboard, i18n
from web.console.forms import LanguageForm
from web.console.security import admin_required, client_address
from web.context import WebContext


def register(blueprint: Blueprint, context: WebContext, setup: Callable[[], Any]) -> None:
    @blueprint.route("/", methods=["GET", "POST"], endpoint="dashboard")
    def dashboard_page() -> Any:
        if not accounts.any_user(context.sessions):
            return setup()
        if request.method == "POST":
            return redirect(url_for("console.dashboard"))
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        return render_template("console/dashboard.html", **dashboard_values())

    @blueprint.route("/dashboard/live", endpoint="dashboard_live")
    @login_required
    def dashboard_live() -> Any:
        """The dashboard's body alone, for htmx to swap in every 30 s."""
        return render_template("console/_dashboard_live.html", **dashboard_values())

    def dashboard_values() -> dict[str, Any]:
        return {"cards": [dashboard.card(m) for m in context.modems()],
                "depth": dashboard.queue_depth(context.queue.open_counts()),
                "received": dashboard.latest_received(context.sessions),
                "activity": dashboard.activity(context.sessions, context.clock.now(),
                                               context.config.gateway.timezone or "UTC")}

    @blueprint.route("/audit", endpoint="audit")
    @admin_required
    def audit_page() -> Any:
        return render_template("console/audit.html", entries=audit.recent(context.sessions))

    @blueprint.route("/language", methods=["POST"])
    @login_required
    def language() -> Any:
        form = language_form()
        if form.validate_on_submit():
            chosen = form.language.data or None
            accounts.set_language(context.sessions, context.clock, current_user.account.id, chosen,
                                  address=client_address())
        return redirect(url_for("console.dashboard"))

    @blueprint.route("/manifest.webmanifest")
    def manifest() -> Response:
        body = {
            "name": "gsmgw", "short_name": "gsmgw", "start_url": "/", "scope": "/", "display": "standalone",
            "background_color": "#ffffff", "theme_color": "#0b5cad",
            "description": gettext("The shop's SMS gateway"),
            "icons": [{"src": url_for("console.static", filename="icon.svg"), "sizes": "any",
                       "type": "image/svg+xml", "purpose": "any"},
                      {"src": url_for("console.static", filename="icon-192.png"), "sizes": "192x192",
                       "type": "image/png"}],
        }
        return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")

    @blueprint.app_template_global("label")
    def label(kind: str, code: str | None) -> str:
        from web.console.labels import label as words

        return words(kind, code)

    @blueprint.app_template_global("action_label")
    def action_label(code: str) -> str:
        from web.console.labels import label as words

        return words("action", code)

    @blueprint.app_context_processor
    def navigation() -> dict:
        from web.console import nav
        from web.console.forms import LogoutForm

        if not current_user.is_authenticated:
            return {"nav_items": [], "logout_form": None, "language_form": None}
        return {"nav_items": nav.visible(current_user.is_admin), "nav_current": nav.current(request.path),
                "logout_form": LogoutForm(),
                "language_form": language_form(), "phone_bar": nav.phone_bar, "phone_more": nav.phone_more}


def language_form() -> LanguageForm:
    form = LanguageForm()
    form.language.choices = [("", gettext("As the browser says"))] + [(lang.code, lang.name) for lang in i18n.LANGUAGES]
    if not form.is_submitted():
        form.language.data = current_user.account.language or ""
    return form
