"""The console's error pages: a sentence in the user's language and a way back, never internals
(no traceback, no exception text); the exception itself goes to the log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound

from web.api.core import PREFIX


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (gettext("Bad request"), gettext("The form could not be used. Go back, reload the page and try again.")),
        403: (gettext("Not allowed"), gettext("Your role does not allow this page. An admin can do it.")),
        404: (gettext("Not found"), gettext("There is no such page.")),
        405: (gettext("Not allowed"), gettext("This page cannot be used that way.")),
        413: (gettext("Too large"), gettext("What was sent is too large.")),
        429: (gettext("Too many requests"), gettext("Wait a moment and try again.")),
        500: (gettext("Something went wrong"), gettext("The gateway could not show this page. It is logged.")),
    }


def page(status: int) -> tuple[str, int]:
    title, text = _messages().get(status, _messages()[500 if status >= 500 else 400])
    return render_template("console/error.html", status=status, title=title, text=text), status


def register(app: Flask, blueprint: Blueprint) -> None:
    @blueprint.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> Any:
        app.logger.info("console: %s %s refused: %s", request.method, request.path, exc.description)
        title, text = gettext("Form expired"), gettext(
            "The form was missing its security token or it had expired. Reload the page and try again.")
        return render_template("console/error.html", status=400, title=title, text=text), 400

    @blueprint.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return page(exc.code or 500)

    @blueprint.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        app.logger.exception("console: unhandled error on %s %s", request.method, request.path)
        return page(500)

    # an unknown address outside the API gets the console's page; the API keeps its problem+json
    api_handler = app.error_handler_spec[None][None].get(HTTPException)

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Any:
        if request.path.startswith(PREFIX):
            return api_handler(exc) if api_handler else exc
        return page(404)
