"""The shop's web console: server-rendered pages (Jinja) at `/`, beside the REST API under /api/v1.

`install(app, context)` adds the blueprint and what it stands on: sign-in (Flask-Login, roles,
throttling, expiry on the daemon's Clock), CSRF on every form (Flask-WTF), the four languages
(Flask-Babel, catalogues compiled from the .po files at start) and its error pages. Pages work
without JavaScript; the few static assets are the box's own (no CDN, no outside fonts).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from web.context import WebContext


def install(app: Flask, context: WebContext) -> None:
    from web.console import (auth, campaigns, contacts, contacts_import, counter, errors, groups, i18n, inbox, messages,
                             modems, pages, security, send, settings, template_pages)
    from web.console import campaign_new

    blueprint = Blueprint("console", __name__, url_prefix="/", template_folder="templates",
                          static_folder="static/console", static_url_path="/console-static")
    security.install(app, blueprint, context)
    i18n.install(app, context)
    setup = auth.register(blueprint, context)
    pages.register(blueprint, context, setup)
    # the pages, each adding its routes to the one blueprint
    for page in (contacts, contacts_import, groups, inbox, template_pages, counter, send, messages, campaigns, modems,
                 settings, campaign_new):
        page.register(blueprint, context)
    errors.register(app, blueprint)
    app.register_blueprint(blueprint)
