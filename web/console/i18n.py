"""The console's languages: English, Arabic (right to left), Russian, Chinese.

Each person's choice is kept with their user; otherwise the browser's Accept-Language decides. The
catalogues are the .po files in `translations/`, compiled in memory when the app is made, so a fresh
clone or an installed package needs no build step and nothing is written beside the code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask, request
from flask_babel import Babel, get_locale
from flask_login import current_user

from web.context import WebContext

TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself, as a person looks for it in a list
    rtl: bool = False


LANGUAGES = (
    Language("en", "English"),
    Language("ar", "العربية", rtl=True),
    Language("ru", "Русский"),
    Language("zh", "中文"),
)
CODES = tuple(language.code for language in LANGUAGES)
DEFAULT = "en"


def by_code(code: str) -> Language:
    return next((language for language in LANGUAGES if language.code == code), LANGUAGES[0])


def catalogue_path(code: str) -> Path:
    return TRANSLATIONS / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(code: str) -> Translations:
    """One language's .po compiled to a gettext catalogue in memory (fuzzy entries left out), once
    per version of the file: every app made in a process (each test's) shares it, read only."""
    path = catalogue_path(code)
    stat = path.stat()
    return _compiled(code, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=len(LANGUAGES) * 2)
def _compiled(code: str, mtime_ns: int, size: int) -> Translations:
    with catalogue_path(code).open("rb") as file:
        catalog = read_po(file, locale=code, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def choose() -> str:
    """The user's own language, else the browser's best match, else English."""
    chosen = getattr(getattr(current_user, "account", None), "language", None)
    if chosen in CODES:
        return chosen
    return request.accept_languages.best_match(CODES, default=DEFAULT) if request else DEFAULT


def install(app: Flask, context: WebContext) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", context.config.gateway.timezone or "UTC")
    babel = Babel(app, locale_selector=choose)
    with app.app_context():
        domain = babel.domain_instance
    # Flask-Babel looks a locale's catalogue up in this cache before any directory
    domain.cache[(DEFAULT, DOMAIN)] = Translations()
    for code in CODES[1:]:
        domain.cache[(code, DOMAIN)] = compile_catalogue(code)

    @app.context_processor
    def language() -> dict:
        current = by_code(str(get_locale() or DEFAULT))
        return {"language": current, "languages": LANGUAGES}
