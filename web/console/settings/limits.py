"""/settings/limits: the sending rules as the config file sets them (limits per SIM and per modem,
quiet hours, frequency cap), read-only, each with the file and the key to change it.

Why read-only: these values are read at start by the workers, the send-time check and the
campaigns; editable overrides would need a settings room whose changes reach each of them while
running. Until then the page shows what is in force and where to change it (then restart gsmgw).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web.console.security import admin_required
from web.context import WebContext


def register(blueprint: Blueprint, context: WebContext) -> None:
    @blueprint.route("/settings/limits", endpoint="settings_limits")
    @admin_required
    def limits_page() -> Any:
        config = context.config
        return render_template("console/settings/limits.html", source=config.source, modems=config.modems,
                               sims=config.sims, consent=config.consent)
