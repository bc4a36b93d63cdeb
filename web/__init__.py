"""Flask console (web/console, at `/`) and REST API (web/api, under /api/v1), served by the daemon.

`create_app(context)` is the composition root of the web side (Flask's app-factory pattern): no
globals, everything a route needs comes from the WebContext.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from web.context import WebContext

MAX_BODY = 4 * 1024 * 1024  # a 1,000-message bulk of long texts fits; anything bigger is a mistake


def create_app(context: WebContext, test_config: dict[str, Any] | None = None) -> Flask:
    from web.api import MODULES
    from web.api.core import Api
    from web.api.problems import install_errors

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    api = Api(context, auth_failures_per_minute=app.config.get("AUTH_FAILURES_PER_MINUTE", 10))
    for module in MODULES:
        module.register(api)
    api.install(app)
    install_errors(app)
    from web import console

    console.install(app, context)  # the console at `/` (after the API's error handlers, which it keeps for /api)
    app.extensions["gsmgw"] = {"context": context, "api": api}
    return app
