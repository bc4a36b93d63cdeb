"""POST /segments: what a text will cost (encoding, parts, characters left), for compose screens."""

from __future__ import annotations

from typing import Any

from gateway.outbound.new_message import MAX_TEXT
from modem.encoding import segment_info
from web.api.core import Api, Call
from web.api.problems import invalid

TEXT_IN = {"type": "object", "additionalProperties": False, "required": ["text"],
           "properties": {"text": {"type": "string", "maxLength": 10 * MAX_TEXT},
                          "concat_ref16": {"type": "boolean", "default": False,
                                           "description": "16-bit concatenation references (152/66 per part)"}}}
SEGMENTS = {
    "type": "object", "required": ["encoding", "parts", "characters", "units", "per_part", "characters_left", "sendable"],
    "properties": {
        "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
        "parts": {"type": "integer", "description": "SMS parts, as carriers count and charge them"},
        "characters": {"type": "integer"},
        "units": {"type": "integer", "description": "GSM-7 septets or UTF-16 code units in total"},
        "per_part": {"type": "integer"},
        "characters_left": {"type": "integer", "description": "units that still fit in the last part"},
        "sendable": {"type": "boolean", "description": f"false when longer than {MAX_TEXT} characters"},
    },
}


def register(api: Api) -> None:
    @api.operation("POST", "/segments", summary="Count a text's SMS parts", tag="messages", scopes=("send", "read"),
                   body=TEXT_IN, responses={200: ("the count", SEGMENTS)})
    def count_segments(call: Call) -> tuple[int, Any]:
        text = call.body["text"]
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise invalid("text", "contains an unpaired surrogate (not text)")
        info = segment_info(text, ref16=call.body.get("concat_ref16", False))
        return 200, {"encoding": info.encoding, "parts": info.parts, "characters": len(text), "units": info.units,
                     "per_part": info.per_part, "characters_left": info.remaining,
                     "sendable": 0 < len(text) <= MAX_TEXT}
