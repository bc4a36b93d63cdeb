"""The opt-out footer of a marketing message, in the contact's language (pure).

Each footer names an opt-out word that `gateway.consent.keywords` honours in that language, so the
customer's reply does what the footer says. A language without its own footer gets English.
"""

from __future__ import annotations

FOOTERS: dict[str, str] = {
    "en": "Reply STOP to opt out",
    "ru": "СТОП — отписаться",
    "ar": "للإلغاء أرسل إلغاء",
    "zh": "回复退订取消",
    "uk": "СТОП — відписатися",
    "de": "STOP zum Abmelden",
    "fr": "STOP pour vous désabonner",
    "es": "STOP para darte de baja",
}
DEFAULT_LANGUAGE = "en"
SEPARATOR = "\n"


def footer_for(language: str | None) -> str:
    """The footer in `language` (a BCP 47 tag: only its primary subtag counts), else English."""
    primary = (language or "").split("-")[0].split("_")[0].lower()
    return FOOTERS.get(primary, FOOTERS[DEFAULT_LANGUAGE])


def with_footer(text: str, language: str | None) -> str:
    """The text with the footer on its own line (counted in the parts like the rest)."""
    return f"{text}{SEPARATOR}{footer_for(language)}"
