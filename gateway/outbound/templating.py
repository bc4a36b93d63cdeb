"""Message templates: "Hi {name}, your code is {code}". Pure: a template and values in, text out.

Placeholders are plain names; `{{` and `}}` are literal braces. Attribute and index access, format
specs and conversions are refused, so a template written in the console can only ever insert the
values it is given.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class TemplateError(ValueError):
    """The template itself is broken (unbalanced brace, `{a.b}`, `{x:>10}`...)."""


class MissingVariable(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"no value for {', '.join('{' + n + '}' for n in names)}")
        self.names = names


def placeholders(template: str) -> list[str]:
    """The names a template uses, in order of first use. Raises TemplateError if it is broken."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    names: list[str] = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not NAME.match(field):
            raise TemplateError(f"{{{field}}} is not a placeholder: use a plain name such as {{name}}")
        if spec or conversion:
            raise TemplateError(f"{{{field}}}: formatting inside a placeholder is not supported")
        if field not in names:
            names.append(field)
    return names


def render(template: str, values: Mapping[str, Any]) -> str:
    """The text with every placeholder filled. MissingVariable names every value not given."""
    names = placeholders(template)
    missing = [name for name in names if values.get(name) is None]
    if missing:
        raise MissingVariable(missing)
    out: list[str] = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if field is not None:
            out.append(str(values[field]))
    return "".join(out)


def contact_values(name: str | None, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a contact offers a template: {name}, {first_name} and its custom fields."""
    values: dict[str, Any] = {k: v for k, v in (fields or {}).items() if NAME.match(k) and v is not None}
    words = (name or "").split()
    if words:  # a name of only spaces is no name: the template's {name} is then a missing value
        values["name"] = (name or "").strip()
        values["first_name"] = words[0]
    return values
