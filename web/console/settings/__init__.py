"""The admins' settings pages under /settings: API keys, webhooks, users, keywords and auto-replies,
and the sending rules (limits per SIM, quiet hours, frequency cap) as the config file sets them.

Staff get 403 on every one of them. Each page calls the rooms' own functions (gateway.apikeys,
gateway.webhooks, gateway.users, gateway.consent.keyword_store) and records each change in the
audit log, never a secret.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web.console.security import admin_required
from web.console.settings import keys, keywords, limits, users, webhooks
from web.context import WebContext


def register(blueprint: Blueprint, context: WebContext) -> None:
    @blueprint.route("/settings", endpoint="settings")
    @admin_required
    def index() -> Any:
        return render_template("console/settings/index.html")

    for page in (keys, webhooks, users, keywords, limits):
        page.register(blueprint, context)
