"""Phone numbers: whatever people type, normalised to E.164 or refused with the reason."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from modem.errors import InvalidNumber


@lru_cache(maxsize=4096)  # a request checks its number more than once; parsing is the costly part
def normalise(raw: str, default_region: str = "GB") -> str:
    """'07700 900123' (GB) -> '+447700900123'. Raises InvalidNumber saying what is wrong.

    Only the length is checked against the country's plan ("possible"), not the allocated ranges
    ("valid"): numbering plans change faster than the metadata, and a shop must reach a new range.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber("the number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"{raw!r} has the wrong number of digits for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
