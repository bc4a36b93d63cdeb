"""Alphabet choice, splitting and the segment counter (modem/encoding.py).

Cross-checked against python-gammu's own splitter (gammu.EncodeSMS), an implementation independent
of python-gsmmodem whose tables we reuse.
"""

from __future__ import annotations

import gammu
import gsmmodem.pdu as lib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modem.encoding import (
    GSM7,
    UCS2,
    SegmentInfo,
    choose_encoding,
    is_gsm7,
    segment_info,
    septet_length,
    split_text,
    ucs2_length,
)

EXT = "€[]{}~^|\\"
EMOJI = "😀"
ZWJ_FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 7 code points, 11 UTF-16 units
FLAG_UK = "🇬🇧"  # two regional indicators, 4 UTF-16 units

SCRIPTS = {
    "english": ("Your order #42 is ready for pickup at 5pm. Thanks!", GSM7),
    "gsm7_accents": ("Café Øre Ñandù @ £5 ¥ §¿¡ ÄÖÜäöüà ΔΦΓΛΩΠΨΣΘΞ", GSM7),
    "extension": (EXT, GSM7),
    "form_feed": ("page\fbreak", GSM7),
    "arabic": ("طلبك جاهز للاستلام", UCS2),
    "russian": ("Ваш заказ готов к выдаче", UCS2),
    "chinese": ("您的订单已准备好取货", UCS2),
    "emoji": (f"Ready {EMOJI}", UCS2),
    "zwj": (f"family {ZWJ_FAMILY}", UCS2),
    "flag": (f"UK {FLAG_UK}", UCS2),
    "y_diaeresis": ("ÿ", UCS2),  # python-gsmmodem raises TypeError here
    "c_cedilla_lower": ("ç", UCS2),  # only capital Ç is in the GSM-7 table
    "escape_char": ("\x1b", UCS2),  # ESC is not a character of its own
    "u_acute": ("ú", UCS2),
    "backtick": ("`", UCS2),  # python-gsmmodem puts it at 0x5F, which is '§' (TS 23.038)
}


def units_of(encoding: str, part: str) -> int:
    return septet_length(part) if encoding == GSM7 else ucs2_length(part)


def is_low_surrogate(ch: str) -> bool:
    return "\udc00" <= ch <= "\udfff"


@pytest.mark.parametrize("text,encoding", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_scripts_choose_encoding_and_split_losslessly(text: str, encoding: str) -> None:
    assert choose_encoding(text) == encoding
    assert is_gsm7(text) == (encoding == GSM7)
    enc, parts = split_text(text * 8)
    assert enc == encoding
    assert "".join(parts) == text * 8


@pytest.mark.parametrize(
    "text,septets",
    [("", 0), ("abc", 3), (EXT, 18), ("\f", 2), ("a€b", 4), ("@£$", 3), ("\n\r", 2)],
)
def test_septet_length_counts_extension_chars_twice(text: str, septets: int) -> None:
    assert septet_length(text) == septets


def P(encoding: str, *units: int) -> tuple[str, list[int]]:
    return encoding, list(units)


BOUNDARIES = [
    # id, text, ref16, (encoding, units per part)
    ("gsm7_160", "a" * 160, False, P(GSM7, 160)),
    ("gsm7_161", "a" * 161, False, P(GSM7, 153, 8)),
    ("gsm7_306", "a" * 306, False, P(GSM7, 153, 153)),
    ("gsm7_307", "a" * 307, False, P(GSM7, 153, 153, 1)),
    ("ext_80_single", "€" * 80, False, P(GSM7, 160)),
    ("ext_81_no_split_escape", "€" * 81, False, P(GSM7, 152, 10)),
    ("ext_at_single_limit", "a" * 158 + "€", False, P(GSM7, 160)),
    ("ext_over_single_limit", "a" * 159 + "€", False, P(GSM7, 153, 8)),
    ("ext_straddles_153", "a" * 152 + "€" + "a" * 10, False, P(GSM7, 152, 12)),
    ("ucs2_70", "я" * 70, False, P(UCS2, 70)),
    ("ucs2_71", "я" * 71, False, P(UCS2, 67, 4)),
    ("ucs2_134", "я" * 134, False, P(UCS2, 67, 67)),
    ("emoji_35_single", EMOJI * 35, False, P(UCS2, 70)),
    ("emoji_36", EMOJI * 36, False, P(UCS2, 66, 6)),
    ("emoji_straddles_67", "я" * 66 + EMOJI + "я" * 5, False, P(UCS2, 66, 7)),
    ("emoji_fits_67", "я" * 65 + EMOJI + "я" * 5, False, P(UCS2, 67, 5)),
    ("ref16_gsm7", "a" * 161, True, P(GSM7, 152, 9)),
    ("ref16_ext", "a" * 151 + "€" + "a" * 10, True, P(GSM7, 151, 12)),
    ("ref16_ucs2", "я" * 71, True, P(UCS2, 66, 5)),
    ("ref16_emoji", "я" * 65 + EMOJI + "я" * 5, True, P(UCS2, 65, 7)),
    ("empty", "", False, P(GSM7, 0)),
]


@pytest.mark.parametrize(
    "text,ref16,expected", [b[1:] for b in BOUNDARIES], ids=[b[0] for b in BOUNDARIES]
)
def test_split_boundaries(text: str, ref16: bool, expected: tuple[str, list[int]]) -> None:
    encoding, parts = split_text(text, ref16=ref16)
    assert (encoding, [units_of(encoding, p) for p in parts]) == expected
    assert "".join(parts) == text


@pytest.mark.parametrize(
    "text,ref16,expected",
    [
        ("", False, SegmentInfo(GSM7, 1, 0, 160, 160, ("",))),
        ("hi €", False, SegmentInfo(GSM7, 1, 5, 160, 155, ("hi €",))),
        ("a" * 161, False, SegmentInfo(GSM7, 2, 161, 153, 145, ("a" * 153, "a" * 8))),
        ("a" * 161, True, SegmentInfo(GSM7, 2, 161, 152, 143, ("a" * 152, "a" * 9))),
        (EMOJI, False, SegmentInfo(UCS2, 1, 2, 70, 68, (EMOJI,))),
        ("я" * 71, False, SegmentInfo(UCS2, 2, 71, 67, 63, ("я" * 67, "я" * 4))),
        ("я" * 71, True, SegmentInfo(UCS2, 2, 71, 66, 61, ("я" * 66, "я" * 5))),
    ],
)
def test_segment_info(text: str, ref16: bool, expected: SegmentInfo) -> None:
    assert segment_info(text, ref16=ref16) == expected


# --- python-gsmmodem defects this layer fixes ---------------------------------------------------


def test_emoji_uses_ucs2_where_library_raises() -> None:
    with pytest.raises(ValueError):
        lib.encodeSmsSubmitPdu("+447700900123", f"hi {EMOJI}")  # library: GSM-7 table lookup fails
    assert split_text(f"hi {EMOJI}") == (UCS2, [f"hi {EMOJI}"])


def test_y_diaeresis_falls_back_to_ucs2_where_library_raises_type_error() -> None:
    with pytest.raises(TypeError):
        lib.encodeGsm7("ÿ")  # library maps ÿ where form feed belongs, then ord() on an int
    assert choose_encoding("ÿ") == UCS2
    assert choose_encoding("\f") == GSM7 and septet_length("\f") == 2


def test_section_sign_is_0x5f_and_backtick_is_not_gsm7() -> None:
    assert lib.GSM7_BASIC[0x5F] == "`"  # the library defect
    assert choose_encoding("§") == GSM7 and choose_encoding("`") == UCS2


def test_surrogate_pair_never_split_where_library_splits_it() -> None:
    text = "я" * 66 + EMOJI + "я" * 10
    lib_parts = lib.divideTextUcs2(_as_utf16_code_units(text))
    assert is_low_surrogate(lib_parts[1][0])  # library cut the emoji in half
    _, parts = split_text(text)
    assert parts == ["я" * 66, EMOJI + "я" * 10]


def _as_utf16_code_units(text: str) -> str:
    """The str of UTF-16 code units (surrogates as separate chars), as UCS-2 callers hold it."""
    data = text.encode("utf-16-be")
    return "".join(chr(int.from_bytes(data[i : i + 2], "big")) for i in range(0, len(data), 2))


# --- lone surrogates (documented choice: replaced by U+FFFD, pairs held as halves are joined) ---


def test_lone_surrogate_is_replaced_not_crashing() -> None:
    assert split_text("a\ud83db") == (UCS2, ["a\ufffdb"])
    assert split_text("\ud83d\ude00") == (UCS2, [EMOJI])  # two halves in a str = the real character


# --- properties -----------------------------------------------------------------------------------

no_surrogates = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)
GSM7_SAMPLE = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
gsm7_alphabet = st.sampled_from(GSM7_SAMPLE + EXT + "\f")
gsm7_text = st.text(gsm7_alphabet, max_size=500)
pieces = st.lists(st.sampled_from(["я", EMOJI, "a", "€", FLAG_UK, ZWJ_FAMILY]), max_size=120).map("".join)
mixed_text = st.one_of(no_surrogates, gsm7_text, pieces)


@settings(max_examples=300, deadline=None)
@given(text=mixed_text, ref16=st.booleans())
def test_split_is_lossless_and_within_capacity(text: str, ref16: bool) -> None:
    encoding, parts = split_text(text, ref16=ref16)
    info = segment_info(text, ref16=ref16)
    assert "".join(parts) == text
    assert encoding == choose_encoding(text)
    assert info.parts == len(parts) and info.part_texts == tuple(parts)
    assert info.units == units_of(encoding, text)
    assert all(units_of(encoding, p) <= info.per_part for p in parts)
    assert all(p and not is_low_surrogate(p[0]) for p in parts[1:])
    if len(parts) > 1:  # greedy: the next character did not fit
        assert all(units_of(encoding, p + n[0]) > info.per_part for p, n in zip(parts, parts[1:]))


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=100))
def test_any_str_including_lone_surrogates_splits_cleanly(text: str) -> None:
    _, parts = split_text(text)
    joined = "".join(parts)
    joined.encode("utf-8")  # strict: raises if any lone surrogate survived
    if not any("\ud800" <= c <= "\udfff" for c in text):
        assert joined == text


# --- cross-check with gammu -----------------------------------------------------------------------


def gammu_parts(text: str, encoding: str, ref16: bool = False) -> int:
    entry = "ConcatenatedTextLong16bit" if ref16 else "ConcatenatedTextLong"
    sms = gammu.EncodeSMS({"Class": -1, "Unicode": encoding == UCS2, "Entries": [{"ID": entry, "Buffer": text}]})
    return len(sms)


GAMMU_TEXTS = [b[1] for b in BOUNDARIES] + [t * 20 for t, _ in SCRIPTS.values()]


@pytest.mark.parametrize("text", GAMMU_TEXTS)
@pytest.mark.parametrize("ref16", [False, True])
def test_part_count_matches_gammu(text: str, ref16: bool) -> None:
    info = segment_info(text, ref16=ref16)
    assert info.parts == gammu_parts(text, info.encoding, ref16)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mixed_text, ref16=st.booleans())
def test_part_count_matches_gammu_property(text: str, ref16: bool) -> None:
    info = segment_info(text, ref16=ref16)
    assert info.parts == gammu_parts(text, info.encoding, ref16)
