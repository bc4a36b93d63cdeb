"""Message templates: "Hi {first_name|friend}, your code is {code}". Pure: a template and values in, text out.

Placeholders are plain names, optionally with a fallback after `|` used when the value is missing
or blank (`{first_name|friend}`, `{city|}` for nothing); `{{` and `}}` are literal braces.
Attribute and index access, format specs and conversions are refused, so a template written in the
console can only ever insert the values it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
MAX_FALLBACK = 200


class TemplateError(ValueError):
    """The template itself is broken (unbalanced brace, `{a.b}`, `{x:>10}`...)."""


class MissingVariable(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"no value for {', '.join('{' + n + '}' for n in names)}")
        self.names = names


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str | None  # None: the value is required


Piece = str | Placeholder


def parse(template: str) -> list[Piece]:
    """The template as literal text and placeholders, in order. Raises TemplateError if it is broken."""
    pieces: list[Piece] = []
    literal: list[str] = []
    at = 0
    for match in _TOKEN.finditer(template):
        literal.append(template[at:match.start()])
        at = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if token in ("{", "}"):
            raise TemplateError(f"single {token!r} at {match.start()} (write {{{{ and }}}} for literal braces)")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(_placeholder(match.group(1)))
    literal.append(template[at:])
    if "".join(literal):
        pieces.append("".join(literal))
    return pieces


def _placeholder(inside: str) -> Placeholder:
    name, bar, fallback = inside.partition("|")
    if not NAME.match(name):
        if name and NAME.match(re.split(r"[:!]", name)[0] or "-"):
            raise TemplateError(f"{{{inside}}}: formatting inside a placeholder is not supported")
        raise TemplateError(f"{{{inside}}} is not a placeholder: use a plain name such as {{name}} or {{name|fallback}}")
    if len(fallback) > MAX_FALLBACK:
        raise TemplateError(f"{{{name}|...}}: a fallback is at most {MAX_FALLBACK} characters")
    return Placeholder(name, fallback if bar else None)


def placeholders(template: str) -> list[str]:
    """The names a template uses, in order of first use. Raises TemplateError if it is broken."""
    names: list[str] = []
    for piece in parse(template):
        if isinstance(piece, Placeholder) and piece.name not in names:
            names.append(piece.name)
    return names


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def render(template: str | list[Piece], values: Mapping[str, Any]) -> str:
    """The text with every placeholder filled; a placeholder with a fallback takes it when its
    value is missing or blank. MissingVariable names every value not given that has no fallback. A parsed template (`parse`)
    may be given instead of its text, for rendering one template for many contacts."""
    pieces = parse(template) if isinstance(template, str) else template
    missing = [p.name for p in pieces if isinstance(p, Placeholder) and p.fallback is None
               and values.get(p.name) is None]
    if missing:
        raise MissingVariable(list(dict.fromkeys(missing)))
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            value = values.get(piece.name)
            if piece.fallback is not None and not _given(value):
                out.append(piece.fallback)
            else:
                out.append(str(value))
    return "".join(out)


def contact_values(name: str | None, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a contact offers a template: {name}, {first_name} and its custom fields."""
    values: dict[str, Any] = {k: v for k, v in (fields or {}).items() if NAME.match(k) and v is not None}
    words = (name or "").split()
    if words:  # a name of only spaces is no name: the template's {name} is then a missing value
        values["name"] = (name or "").strip()
        values["first_name"] = words[0]
    return values
