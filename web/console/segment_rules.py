"""A segment's rule as the console's form shows it (pure): "contacts who match all (or any) of these
conditions", each condition one rule of `audience.segments`, perhaps negated. The spec it makes is the
one the API and campaigns read; `audience.segments.parse` still checks it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NUMBERS = ("replied_within_days", "clicked_within_days")
NAMED = ("tag", "group", "language")
KINDS = ("tag", "group", "language", "field", *NUMBERS, "never_delivered")


class RuleFormError(ValueError):
    """Which condition is wrong and why (its row, from 1; 0: the rule as a whole)."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(reason)
        self.row = row


@dataclass(frozen=True)
class Condition:
    kind: str = ""  # one of KINDS; "" for an unused row
    value: str = ""
    key: str = ""  # the custom field's name
    negate: bool = False


def spec_of(match: str, conditions: list[Condition]) -> dict[str, Any]:
    """{"all"|"any": [rule, ...]} from the filled rows."""
    rules = []
    for row, c in enumerate(conditions, 1):
        if not c.kind:
            continue
        rule = _leaf(row, c)
        rules.append({"not": rule} if c.negate else rule)
    if not rules:
        raise RuleFormError(0, "choose at least one condition")
    return {"any" if match == "any" else "all": rules}


def _leaf(row: int, c: Condition) -> dict[str, Any]:
    value = c.value.strip()
    if c.kind in NAMED:
        if not value:
            raise RuleFormError(row, "needs a name")
        return {c.kind: value}
    if c.kind == "field":
        if not c.key.strip():
            raise RuleFormError(row, "needs the field's name")
        return {"field": c.key.strip(), "equals": value} if value else {"field": c.key.strip(), "exists": True}
    if c.kind in NUMBERS:
        try:
            days = float(value.replace(",", "."))
        except ValueError:
            raise RuleFormError(row, "needs a number of days") from None
        if days <= 0:
            raise RuleFormError(row, "needs a number of days") from None
        return {c.kind: int(days) if days == int(days) else days}
    if c.kind == "never_delivered":
        return {"never_delivered": True}
    raise RuleFormError(row, f"unknown condition {c.kind!r}")


def conditions_of(spec: Any) -> tuple[str, list[Condition]]:
    """The form's rows for a spec this form made; anything else shows as no rows."""
    if not isinstance(spec, dict) or len(spec) != 1:
        return "all", []
    (match, rules), = spec.items()
    if match not in ("all", "any") or not isinstance(rules, list):
        return "all", []
    rows = []
    for rule in rules:
        negate = isinstance(rule, dict) and set(rule) == {"not"}
        leaf = rule["not"] if negate else rule
        if not isinstance(leaf, dict):
            continue
        if "field" in leaf:
            rows.append(Condition("field", str(leaf.get("equals", "")), str(leaf["field"]), negate))
        elif len(leaf) == 1:
            (kind, value), = leaf.items()
            shown = "" if kind == "never_delivered" else str(value)
            rows.append(Condition(kind, shown, "", negate))
    return match, rows
