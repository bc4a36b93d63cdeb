"""One contact's text of a campaign (pure): the variant's placeholders filled with the contact's
values and fallbacks, the footer in its language, and what that costs in parts.

The parts come from `modem.encoding.segment_info`, the one code path the send itself uses, so the
dry run's count is what the modem sends. A warning says when a contact's own values (a name in
Cyrillic, Arabic or Chinese, a long city) push the text into UCS-2 or into an extra part compared
with the variant's own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.campaigns.footer import with_footer
from gateway.outbound.queue import MAX_TEXT
from gateway.outbound.templating import MissingVariable, Piece, Placeholder, contact_values, parse, render
from modem.encoding import GSM7, segment_info


@dataclass(frozen=True)
class Personal:
    """A contact's final text, or why there is none (`problem`)."""

    text: str | None
    encoding: str | None = None
    parts: int = 0
    warning: str | None = None
    problem: str | None = None


class Body:
    """A variant's body parsed once, rendered for many contacts."""

    def __init__(self, body: str, *, footer: bool) -> None:
        self.pieces: list[Piece] = parse(body)
        self.footer = footer
        # the variant's own words: literal text and fallbacks, no contact's values
        self.plain = "".join(p if isinstance(p, str) else (p.fallback or "") for p in self.pieces)

    def for_contact(self, name: str | None, fields: Mapping[str, Any] | None, language: str | None) -> Personal:
        try:
            text = render(self.pieces, contact_values(name, fields))
        except MissingVariable as exc:
            return Personal(None, problem=str(exc))
        base = self.plain
        if self.footer:
            text, base = with_footer(text, language), with_footer(base, language)
        if len(text) > MAX_TEXT:
            return Personal(None, problem=f"the text would be {len(text)} characters (at most {MAX_TEXT})")
        info = segment_info(text)
        return Personal(text, info.encoding, info.parts, _warning(info.encoding, info.parts, base, self.pieces))


def _warning(encoding: str, parts: int, base: str, pieces: list[Piece]) -> str | None:
    plain = segment_info(base)
    names = ", ".join("{" + p.name + "}" for p in pieces if isinstance(p, Placeholder))
    if encoding != plain.encoding and plain.encoding == GSM7:
        return f"the values of {names} need UCS-2: {parts} part{'s' if parts != 1 else ''} instead of {plain.parts}"
    if parts > plain.parts:
        return f"the values of {names} make {parts} parts instead of {plain.parts}"
    return None
