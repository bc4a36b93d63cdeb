"""JSON Schemas the operations share (ids, times, pages, problem details)."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**63 - 1

PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
         "description": "items per page"}
CURSOR = {"type": "string", "maxLength": 100, "description": "`next_cursor` of the previous page"}


def page_of(item_schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": item_schema},
        "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page; null at the end"}}}
