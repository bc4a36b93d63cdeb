"""PDU encode/decode (modem/pdu/): known vectors, data coding schemes, concatenation, and the
python-gsmmodem defects this layer fixes. Garbage in test_pdu_garbage.py, round trips and the
gammu cross-checks in test_pdu_round_trips.py."""

from __future__ import annotations

from datetime import datetime

import gsmmodem.pdu as lib
import pytest

from modem.encoding import GSM7, UCS2
from modem.errors import InvalidNumber
from modem.pdu import (DATA8, Concat, Deliver, StatusReport, SubmitPart, decode, encode_deliver, encode_status_report,
                       encode_submit, new_concat_reference)

from .pdu_helpers import (ALPHA_DELIVER, EMOJI, HELLO_SUBMIT, KNOWN, PLUS1, STATUS_REPORT, UCS2_DELIVER, UTC,
                          _deliver_with)


@pytest.mark.parametrize("pdu,expected", KNOWN.values(), ids=KNOWN.keys())
def test_decode_known_vectors(pdu: str, expected: object) -> None:
    assert decode(pdu) == expected
    assert decode(pdu.lower()) == expected


def test_encode_submit_hellohello_vector() -> None:
    parts = encode_submit("+46708251358", "hellohello", status_report=False, validity_minutes=4 * 24 * 60)
    assert parts == [SubmitPart(HELLO_SUBMIT, 23, 1, 1, "hellohello")]


def test_encode_deliver_and_status_report_reproduce_vectors() -> None:
    assert encode_deliver("Vodafone UK", "hi there", datetime(2024, 5, 1, 12, tzinfo=PLUS1)) == [ALPHA_DELIVER]
    ts = datetime(2024, 5, 1, 12, tzinfo=PLUS1)
    assert encode_deliver("+447700900123", f"Привет{EMOJI}", ts) == [UCS2_DELIVER]
    report = encode_status_report(12, "+447700900123", 0, datetime(2024, 5, 1, 12, tzinfo=PLUS1),
                                  datetime(2024, 5, 1, 12, 0, 5, tzinfo=PLUS1))
    assert report == STATUS_REPORT


@pytest.mark.parametrize("pdu", [HELLO_SUBMIT[2:], STATUS_REPORT[16:], ALPHA_DELIVER[16:]])
def test_decode_without_smsc_field(pdu: str) -> None:
    assert decode(pdu, has_smsc=False) == decode("00" + pdu)


@pytest.mark.parametrize(
    "status,outcome", [(0x00, "delivered"), (0x1F, "delivered"), (0x20, "pending"), (0x3F, "pending"),
                       (0x40, "failed"), (0x7F, "failed"), (0xFF, "failed")],
)
def test_status_report_outcome(status: int, outcome: str) -> None:
    pdu = encode_status_report(7, "+447700900123", status, datetime(2024, 1, 1, tzinfo=UTC),
                               datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    report = decode(pdu)
    assert isinstance(report, StatusReport) and report.status == status and report.outcome == outcome


@pytest.mark.parametrize(
    "dcs,ud,text,encoding",
    [
        (0x00, "02E834", "hi", GSM7),
        (0x10, "02E834", "hi", GSM7),  # class 0 (flash), GSM-7
        (0xF0, "02E834", "hi", GSM7),  # coding group 1111, class 0
        (0x18, "0400680069", "hi", UCS2),  # class 0 (flash), UCS-2
        (0x48, "0400680069", "hi", UCS2),  # automatic-deletion group
        (0xE0, "0400680069", "hi", UCS2),  # message waiting, UCS-2
        (0x04, "0368E9FF", "hé\xff", DATA8),  # 8-bit data shown as latin-1
        (0xF4, "0368E9FF", "hé\xff", DATA8),
        (0x08, "04D83DDE00", EMOJI, UCS2),  # surrogate pair -> the real character
        (0x08, "04D83D0041", "\ufffdA", UCS2),  # lone high surrogate -> U+FFFD
        (0x08, "00", "", UCS2),
    ],
)
def test_data_coding_schemes(dcs: int, ud: str, text: str, encoding: str) -> None:
    msg = decode(_deliver_with(dcs, ud))
    assert isinstance(msg, Deliver) and (msg.text, msg.encoding) == (text, encoding)


@pytest.mark.parametrize(
    "ud,concat",
    [
        ("0A050003C80301" + "00680069", Concat(200, 3, 1)),  # 8-bit reference
        ("0B06080430390302" + "00680069", Concat(12345, 3, 2)),  # 16-bit reference
        ("0C0904020010" + "0003C80303" + "0068", Concat(200, 3, 3)),  # port IE first, ignored
        ("070404021000" + "0068", None),  # only an unknown IE (here 0x04 ports)
        ("0A050003C80004" + "00680069", None),  # seq > total: IE ignored (23.040 9.2.3.24.1)
    ],
)
def test_concatenation_headers(ud: str, concat: Concat | None) -> None:
    msg = decode(_deliver_with(0x08, ud, first=0x44))
    assert isinstance(msg, Deliver) and msg.concat == concat


# --- python-gsmmodem defects this layer fixes ---------------------------------------------------


def test_ucs2_emoji_decodes_to_real_character_where_library_returns_surrogates() -> None:
    assert lib.decodeSmsPdu(UCS2_DELIVER)["text"].endswith("\ud83d\ude00")
    assert decode(UCS2_DELIVER).text.endswith(EMOJI)


@pytest.mark.parametrize(
    "number",
    ["+44 7700 900123", "07700-900123", "0770090012a", "+", "", "++447700900123", "44+77", "ShopName",
     "+٤٤٧٧٠٠", "+1" + "2" * 20, " +447700900123"],
)
def test_invalid_numbers_raise_where_library_sends_alphanumeric(number: str) -> None:
    with pytest.raises(InvalidNumber, match="not a phone number"):
        encode_submit(number, "hi")


def test_library_turns_spaced_number_into_alphanumeric_address() -> None:
    assert lib._encodeAddressField("+44 7700 900123")[1] == 0xD0  # the defect we refuse to inherit


@pytest.mark.parametrize(
    "number,address_hex",
    [("+447700900123", "0C91447700091032"), ("12345", "05812143F5"), ("07700900123", "0B817007900021F3")],
)
def test_number_types(number: str, address_hex: str) -> None:
    part = encode_submit(number, "hi")[0]
    assert part.hex.startswith("002100" + address_hex)
    assert decode(part.hex).recipient == number


@pytest.mark.parametrize("ref16,reference,iei", [(False, 200, "0003C8"), (True, 200, "080400C8"),
                                                 (True, 54321, "0804D431")])
def test_concat_reference_is_the_callers(ref16: bool, reference: int, iei: str) -> None:
    parts = encode_submit("+447700900123", "a" * 400, concat_ref=reference, ref16=ref16)
    assert [p.seq for p in parts] == [1, 2, 3] and {p.total for p in parts} == {3}
    for part in parts:
        assert iei + f"03{part.seq:02X}" in part.hex  # the library can only send ref 0, 8-bit for <256
        assert decode(part.hex).concat == Concat(reference, 3, part.seq)


def test_new_concat_reference_range_and_default_draw() -> None:
    refs8 = {new_concat_reference() for _ in range(2000)}
    refs16 = {new_concat_reference(True) for _ in range(200)}
    assert min(refs8) >= 1 and max(refs8) <= 255 and len(refs8) > 100
    assert min(refs16) >= 1 and max(refs16) <= 65535 and max(refs16) > 255
    drawn = {decode(encode_submit("+447700900123", "a" * 200)[0].hex).concat.reference for _ in range(50)}
    assert len(drawn) > 1 and 0 not in drawn


def test_out_of_range_concat_reference_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_submit("+447700900123", "a" * 200, concat_ref=256)


@pytest.mark.parametrize(
    "minutes,vp", [(5, 0x00), (6, 0x01), (720, 0x8F), (750, 0x90), (1440, 0xA7), (1441, 0xA8),
                   (4 * 1440, 0xAA), (30 * 1440, 0xC4), (31 * 1440, 0xC5), (10**7, 0xFF)],
)
def test_validity_period_rounds_up(minutes: int, vp: int) -> None:
    part = encode_submit("+447700900123", "x", validity_minutes=minutes, status_report=False)[0]
    assert part.hex[:4] == "0011" and part.hex[26:28] == f"{vp:02X}"


@pytest.mark.parametrize(
    "ud,text",
    [("021B0A", "^"), ("021B11", '"'), ("029B0D", " "), ("021B00", "@"), ("011B", "")],
    ids=["ext", "unknown_ext_as_basic", "esc_esc_as_space", "ext_zero", "dangling_esc"],
)
def test_gsm7_escape_handling_never_fails(ud: str, text: str) -> None:
    """TS 23.038 §6.2.1.1: unknown extension codes show the basic-table character."""
    assert decode(_deliver_with(0x00, ud)).text == text


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        encode_submit("+447700900123", "a" * 153 * 256)


def test_smsc_and_tpdu_length() -> None:
    part = encode_submit("+447700900123", "hi", smsc="+447785016005")[0]
    assert part.hex.startswith("07914477581006502100")
    assert part.tpdu_length == len(part.hex) // 2 - 8
