"""The part counter every compose box shows: characters left in the current part, parts, encoding.

The count is `modem.encoding.segment_info`, the function the queue stores a message's parts with
and the REST API's `/segments` answers with, so what the counter says is what the modem sends.
When a few characters force UCS-2 (a curly apostrophe pasted from a word processor, an emoji), it
names them and what the text would cost without them, offering the GSM-7 text when each has a
plain replacement. A text with placeholders is counted as each chosen contact would receive it:
the shortest and the longest rendering.

`count` and `spread` are pure; `register` adds the fragment route htmx posts to while typing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.outbound.new_message import MAX_TEXT
from gateway.outbound.templating import MissingVariable, TemplateError, parse, placeholders, render
from modem.encoding import GSM7, clean_text, is_gsm7, segment_info

# what a character that costs UCS-2 is usually meant to be, in GSM-7 ("" removes it)
REPLACEMENTS: dict[str, str] = {
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2015": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": ".",
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\u00e1": "a", "\u00ed": "i", "\u00f3": "o", "\u00fa": "u", "\u00e2": "a", "\u00ea": "e",
    "\u00ee": "i", "\u00f4": "o", "\u00fb": "u", "\u00eb": "e", "\u00ef": "i", "\u00e3": "a", "\u00f5": "o",
}
MAX_NAMED = 3  # more characters without a replacement: the script itself needs Unicode, nothing to fix
MAX_LISTED = 8  # at most this many characters are named, each with its fix


@dataclass(frozen=True)
class Culprit:
    """One character that makes the text UCS-2, and what to write instead (None: nothing does)."""

    char: str
    name: str  # its Unicode name, lower case ("right single quotation mark"): English only
    replacement: str | None

    @property
    def code(self) -> str:
        """Its code point ("U+2019"): how a page in another language names it (Unicode names are English)."""
        return f"U+{ord(self.char):04X}"


@dataclass(frozen=True)
class Count:
    characters: int
    encoding: str  # gsm7 | ucs2
    parts: int
    per_part: int  # what one part holds: 160, 153, 70, 67 (or 152/66 with 16-bit references)
    left: int  # units still free in the current (last) part
    culprits: tuple[Culprit, ...]  # the few characters forcing UCS-2; empty when none or too many
    parts_without: int | None  # parts once the culprits are replaced (or removed)
    fixed_text: str | None  # the text in GSM-7, when every culprit has a replacement

    @property
    def sendable(self) -> bool:
        return 0 < self.characters <= MAX_TEXT

    @property
    def too_long(self) -> bool:
        return self.characters > MAX_TEXT


def count(text: str, *, ref16: bool = False) -> Count:
    """What `text` costs, as the queue will store and the modem send it."""
    info = segment_info(text, ref16=ref16)
    culprits: tuple[Culprit, ...] = ()
    parts_without = fixed = None
    if info.encoding != GSM7:
        odd = list(dict.fromkeys(ch for ch in clean_text(text) if not is_gsm7(ch)))
        if len([ch for ch in odd if _replacement(ch) is None]) <= MAX_NAMED and len(odd) <= MAX_LISTED:
            culprits = tuple(Culprit(ch, _name(ch), _replacement(ch)) for ch in odd)
            without = "".join(c if is_gsm7(c) else (_replacement(c) or "") for c in clean_text(text))
            parts_without = segment_info(without, ref16=ref16).parts if without else 0
            if all(c.replacement is not None for c in culprits):
                fixed = without
    return Count(characters=len(text), encoding=info.encoding, parts=info.parts, per_part=info.per_part,
                 left=info.remaining, culprits=culprits, parts_without=parts_without, fixed_text=fixed)


def _replacement(ch: str) -> str | None:
    if ch in REPLACEMENTS and is_gsm7(REPLACEMENTS[ch]):
        return REPLACEMENTS[ch]
    return None


def _name(ch: str) -> str:
    return unicodedata.name(ch, f"U+{ord(ch):04X}").lower()


@dataclass(frozen=True)
class Rendered:
    """A template's text as each chosen contact would receive it: the shortest and the longest."""

    shortest: Count
    longest: Count
    contacts: int
    missing: tuple[str, ...]  # placeholders some contact has no value (and no fallback) for


def has_placeholders(text: str) -> bool:
    try:
        return bool(placeholders(text))
    except TemplateError:
        return False


def spread(body: str, values: Iterable[Mapping[str, Any]], *, ref16: bool = False) -> Rendered | None:
    """The shortest and longest rendering of `body` over the contacts' values (contact_values);
    None when the body has no placeholders or no contact rendered."""
    if not has_placeholders(body):
        return None
    pieces = parse(body)
    counts: list[tuple[tuple[int, int], Count]] = []
    missing: list[str] = []
    for each in values:
        try:
            text = render(pieces, each)
        except MissingVariable as exc:
            missing.extend(exc.names)
            continue
        c = count(text, ref16=ref16)
        counts.append(((c.parts, c.characters), c))
    if not counts:
        return None
    counts.sort(key=lambda pair: pair[0])
    return Rendered(counts[0][1], counts[-1][1], len(counts), tuple(dict.fromkeys(missing)))


def register(blueprint: Any, context: Any) -> None:
    """POST /counter: the counter fragment for the form's `text` (and, for a template's text, its
    contact `to`), which
    htmx swaps in while the user types; the same fragment the page renders after "Check"."""
    from flask import render_template, request
    from flask_login import login_required

    from gateway.audience import contacts
    from gateway.core.numbers import normalise
    from gateway.outbound.templating import contact_values

    @blueprint.route("/counter", methods=["POST"], endpoint="counter")
    @login_required
    def counter_fragment() -> Any:
        text = request.form.get("text", "")[: 10 * MAX_TEXT]
        values = None
        raw = request.form.get("to", "").strip()
        templated = bool(request.form.get("template")) and has_placeholders(text)  # free text goes as typed
        if raw and templated:
            try:
                number = normalise(raw, context.queue.default_region)
            except ValueError:
                number = None
            if number is not None:
                with context.sessions() as session:
                    contact = contacts.find(session, number)
                    if contact is not None:
                        values = [contact_values(contact.name, contact.fields)]
        return render_template("console/_counter.html", count=count(text, ref16=context.queue.ref16),
                               spread=spread(text, values, ref16=context.queue.ref16) if values else None,
                               placeholders=templated, offer_fix=request.form.get("offer_fix") == "1")
