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
from gateway.outbound.new_message import MAX_TEXT
from gateway.outbound.templating import MissingVariable, Piece, Placeholder, contact_values, parse, render
from modem.encoding import GSM7, SegmentInfo, segment_info


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
        self.names = ", ".join("{" + p.name + "}" for p in self.pieces if isinstance(p, Placeholder))
        self._plain_info: dict[tuple[bool, str | None], SegmentInfo] = {}  # per footer and its language

    def text_for(self, name: str | None, fields: Mapping[str, Any] | None, language: str | None, *,
                 footer: bool | None = None) -> Personal:
        """The contact's text without counting its parts (the queue counts them when it stores it);
        `footer` says for this contact whether the footer goes on (by default the body's own choice)."""
        try:
            text = render(self.pieces, contact_values(name, fields))
        except MissingVariable as exc:
            return Personal(None, problem=str(exc))
        if self.footer if footer is None else footer:
            text = with_footer(text, language)
        if len(text) > MAX_TEXT:
            return Personal(None, problem=f"the text would be {len(text)} characters (at most {MAX_TEXT})")
        return Personal(text)

    def for_contact(self, name: str | None, fields: Mapping[str, Any] | None, language: str | None, *,
                    footer: bool | None = None) -> Personal:
        """The contact's text with its encoding and parts, and a warning when its values cost more."""
        footer = self.footer if footer is None else footer
        personal = self.text_for(name, fields, language, footer=footer)
        if personal.text is None:
            return personal
        info = segment_info(personal.text)
        return Personal(personal.text, info.encoding, info.parts, self._warning(info, language, footer))

    def _warning(self, info: SegmentInfo, language: str | None, footer: bool) -> str | None:
        key = (footer, language if footer else None)
        plain = self._plain_info.get(key)
        if plain is None:
            plain = self._plain_info[key] = segment_info(with_footer(self.plain, language) if footer else self.plain)
        if info.encoding != plain.encoding and plain.encoding == GSM7:
            return (f"the values of {self.names} need UCS-2: {info.parts} part{'s' if info.parts != 1 else ''} "
                    f"instead of {plain.parts}")
        if info.parts > plain.parts:
            return f"the values of {self.names} make {info.parts} parts instead of {plain.parts}"
        return None
