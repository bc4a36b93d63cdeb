"""Request input checked against the declared schemas: query strings coerced, JSON parsed strictly,
and JSON Schema errors turned into field-level messages ("messages[3].to: is required")."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from web.api.problems import ApiError

def alternative(schema: dict[str, Any], body: Any) -> dict[str, Any]:
    """For a oneOf body (single message or bulk), the alternative whose required fields the body
    has, so the errors are about that shape and not "matches none of the alternatives"."""
    if "oneOf" not in schema:
        return schema
    if isinstance(body, dict):
        for option in schema["oneOf"]:
            if set(option.get("required", ())) <= set(body):
                return option
    return schema["oneOf"][0]



def no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def coerce(text: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("must be true or false")
        return text == "true"
    return text


def parse_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time; one without a zone is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("must be a date-time like 2026-01-31T09:30:00Z") from None


MAX_ERRORS = 5000  # field errors in one answer: every item of a full bulk, several fields each


def field_order(error: dict[str, str]) -> list[Any]:
    """Sort key: messages[2].to before messages[10].sim (numbers compared as numbers). Only ASCII
    digits are an index: a field's name from the request may hold "¹" or "٣", which are text."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"([0-9]+)", error["field"]))]


def invalid_all(errors: list[dict[str, str]]) -> ApiError:
    """A 422 naming every field in `errors`, in field order."""
    errors = sorted(errors, key=field_order)[:MAX_ERRORS]
    return ApiError(422, summary(errors), errors=errors)


def summary(errors: list[dict[str, str]]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['field']}: {first['message']}{more}"


def field_errors(validator: Draft202012Validator, instance: Any) -> list[dict[str, str]]:
    """JSON Schema errors as [{"field": "messages[3].to", "message": "..."}], in field order, at
    most MAX_ERRORS."""
    errors: list[dict[str, str]] = []
    for error in validator.iter_errors(instance):
        errors.extend(_describe(error))
        if len(errors) >= MAX_ERRORS:
            break
    errors.sort(key=field_order)
    return errors[:MAX_ERRORS]


def _describe(error: ValidationError) -> list[dict[str, str]]:
    where = _field(error.absolute_path)
    value, instance = error.validator_value, error.instance
    kind = error.validator
    if kind == "required" and isinstance(instance, dict):
        return [{"field": _join(where, name), "message": "is required"} for name in value if name not in instance]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        return [{"field": _join(where, str(name)), "message": "unknown field"} for name in instance if name not in known]
    messages = {
        "type": lambda: f"must be {_type_words(value)}",
        "minLength": lambda: "must not be empty" if value == 1 else f"must be at least {value} characters",
        "maxLength": lambda: f"must be at most {value} characters",
        "enum": lambda: "must be one of " + ", ".join(str(v) for v in value),
        "const": lambda: f"must be {value!r}",
        "minimum": lambda: f"must be at least {value}",
        "maximum": lambda: f"must be at most {value}",
        "exclusiveMinimum": lambda: f"must be more than {value}",
        "exclusiveMaximum": lambda: f"must be less than {value}",
        "minItems": lambda: f"must have at least {value} item{'s' if value != 1 else ''}",
        "maxItems": lambda: f"must have at most {value} items",
        "uniqueItems": lambda: "must not repeat an item",
        "pattern": lambda: "has the wrong format",
        "minProperties": lambda: "must not be empty",
    }
    message = messages[kind]() if kind in messages else error.message[:200]
    return [{"field": where or "(body)", "message": message}]


def _field(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_words(value: Any) -> str:
    names = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
             "object": "an object", "array": "a list", "null": "null"}
    if isinstance(value, list):
        return " or ".join(names.get(v, v) for v in value)
    return names.get(value, str(value))
