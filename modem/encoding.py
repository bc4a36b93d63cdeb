"""SMS alphabets and splitting text into parts (pure functions, no I/O).

The GSM-7 tables come from python-gsmmodem; its encoder and splitters are not used because they
crash on emoji and `ÿ` and split UTF-16 surrogate pairs across parts. Counting here is exactly what
`modem.pdu.encode_submit` sends, so the web UI's segment counter never lies to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gsmmodem.pdu import GSM7_BASIC as _LIB_BASIC
from gsmmodem.pdu import GSM7_EXTENDED as _LIB_EXTENDED
from gsmmodem.pdu import packSeptets, unpackSeptets

GSM7 = "gsm7"
UCS2 = "ucs2"

ESC = 0x1B
# Septet value -> character. Index 0x1B is the escape to the extension table, not a character.
# The library has '`' at 0x5F where TS 23.038 has '§': a backtick would silently arrive as '§'.
BASIC_TABLE: str = _LIB_BASIC.replace("`", "§")
_BASIC: dict[str, int] = {ch: i for i, ch in enumerate(BASIC_TABLE) if i != ESC}


def _fixed_extension_table() -> dict[str, int]:
    """The library maps 'ÿ' (U+00FF) where form feed belongs (23.038 ext 0x0A) and mixes int/str."""
    table: dict[str, int] = {}
    for ch, code in _LIB_EXTENDED.items():
        table["\f" if ch == "\xff" else ch] = code if isinstance(code, int) else ord(code)
    return table


EXTENSION: dict[str, int] = _fixed_extension_table()  # character -> code after ESC
EXTENSION_BY_CODE: dict[int, str] = {code: ch for ch, code in EXTENSION.items()}

# the same tables as sets and a pattern, so a whole text is checked and counted in C: a campaign
# counts the parts of every one of its 100k texts
_GSM7_CHARS = frozenset(_BASIC) | frozenset(EXTENSION)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

SINGLE = {GSM7: 160, UCS2: 70}
MULTI_8BIT_REF = {GSM7: 153, UCS2: 67}  # UDH of 6 octets (UDHL + IEI 00, len 3, ref, total, seq)
MULTI_16BIT_REF = {GSM7: 152, UCS2: 66}  # UDH of 7 octets (IEI 08 carries a 2-octet reference)


def clean_text(text: str) -> str:
    """Join surrogate halves that Python holds as separate code points, and replace lone ones.

    A Python str can hold lone surrogates (e.g. from JSON "\\ud83d"); they are not text and cannot be
    sent or decoded back, so they become U+FFFD. Any other text is returned unchanged.
    """
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM-7 basic or extension table."""
    return _GSM7_CHARS.issuperset(text)


def _char_septets(ch: str) -> int:
    return 2 if ch in EXTENSION else 1


def _char_ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def septet_length(text: str) -> int:
    """Septets needed for `text` in GSM-7; extension characters cost two (ESC + code)."""
    return len(text) + sum(text.count(ch) for ch in EXTENSION if ch in text)


def ucs2_length(text: str) -> int:
    """UTF-16 code units needed for `text`; an astral character (emoji) costs two."""
    return len(text) + len(_ASTRAL.findall(text))


def choose_encoding(text: str) -> str:
    """GSM7 if every character fits in the GSM-7 tables, else UCS2 (sent as UTF-16)."""
    return GSM7 if is_gsm7(text) else UCS2


def units(text: str, encoding: str) -> int:
    """Length of `text` in the units that limit a part: septets or UTF-16 code units."""
    return septet_length(text) if encoding == GSM7 else ucs2_length(text)


def to_septets(text: str) -> bytes:
    """GSM-7 septet values (unpacked, one per byte) for text that `is_gsm7`."""
    out = bytearray()
    for ch in text:
        if ch in _BASIC:
            out.append(_BASIC[ch])
        else:
            out += bytes((ESC, EXTENSION[ch]))
    return bytes(out)


def from_septets(septets: bytes) -> str:
    """Text for GSM-7 septet values (0..127).

    Per TS 23.038 §6.2.1.1 an unknown extension code is shown as its basic-table character (ESC ESC,
    reserved for a further table, as a space), and a dangling ESC at the very end is dropped: a
    receiver must show *something*, never fail.
    """
    out: list[str] = []
    escaped = False
    for value in septets:
        if escaped:
            out.append(EXTENSION_BY_CODE.get(value, " " if value == ESC else BASIC_TABLE[value & 0x7F]))
            escaped = False
        elif value == ESC:
            escaped = True
        else:
            out.append(BASIC_TABLE[value & 0x7F])
    return "".join(out)


def to_gsm_text(text: str, *, unknown: str = "?") -> str:
    """`text` as a modem puts it on the line under AT+CSCS="GSM": one character per septet value
    (`@` is NUL, `£` is 0x01, `€` is ESC + 0x65); characters outside GSM-7 become `unknown`."""
    return "".join(map(chr, to_septets("".join(ch if is_gsm7(ch) else unknown for ch in text))))


def from_gsm_text(text: str) -> str:
    """Text a modem sent under AT+CSCS="GSM" (one septet value per character) as characters.

    Anything above 0x7F is not a septet: the modem sent it in some other set, so it is kept.
    """
    out: list[str] = []
    run: list[int] = []
    for ch in text:
        if ord(ch) < 0x80:
            run.append(ord(ch))
            continue
        out.append(from_septets(bytes(run)))
        run.clear()
        out.append(ch)
    out.append(from_septets(bytes(run)))
    return "".join(out)


def pack_septets(septets: bytes) -> bytes:
    """Septet values packed 8 into 7 octets (TS 23.038 §6.1.2.1)."""
    return bytes(packSeptets(bytearray(septets))) if septets else b""


def unpack_septets(data: bytes, count: int) -> bytes:
    """Exactly `count` septet values from packed `data`.

    The library drops a final '@' (septet 0) and can add a spurious one from padding bits; fix both.
    """
    septets = bytes(unpackSeptets(bytearray(data), count)) if count else b""
    return (septets + bytes(count))[:count]


def _chunk(text: str, capacity: int, cost) -> list[str]:
    """Greedy split by whole code points, so no escape sequence or surrogate pair is ever cut."""
    parts: list[str] = []
    start = used = 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > capacity:
            parts.append(text[start:i])
            start, used = i, 0
        used += c
    parts.append(text[start:])
    return parts


def _capacity(encoding: str, parts: int, ref16: bool) -> int:
    if parts == 1:
        return SINGLE[encoding]
    return (MULTI_16BIT_REF if ref16 else MULTI_8BIT_REF)[encoding]


def split_text(text: str, *, ref16: bool = False) -> tuple[str, list[str]]:
    """Return (encoding, part texts) exactly as they will be sent; empty text is one empty part.

    Lone surrogates are replaced first (see `clean_text`), so for normal text "".join(parts) == text.
    """
    text = clean_text(text)
    encoding = choose_encoding(text)
    if units(text, encoding) <= SINGLE[encoding]:
        return encoding, [text]
    cost = _char_septets if encoding == GSM7 else _char_ucs2_units
    return encoding, _chunk(text, _capacity(encoding, 2, ref16), cost)


@dataclass(frozen=True)
class SegmentInfo:
    """What a text will cost, for the compose screen's counter."""

    encoding: str
    parts: int
    units: int  # septets (GSM7) or UTF-16 code units (UCS2) in total
    per_part: int  # capacity of each part: 160, 153, 152, 70, 67 or 66
    remaining: int  # units that still fit in the last part
    part_texts: tuple[str, ...]


def segment_info(text: str, *, ref16: bool = False) -> SegmentInfo:
    """Segment count and capacity; built on `split_text`, so it matches `encode_submit` exactly."""
    encoding, parts = split_text(text, ref16=ref16)
    per_part = _capacity(encoding, len(parts), ref16)
    return SegmentInfo(
        encoding=encoding,
        parts=len(parts),
        units=sum(units(p, encoding) for p in parts),
        per_part=per_part,
        remaining=per_part - units(parts[-1], encoding),
        part_texts=tuple(parts),
    )
