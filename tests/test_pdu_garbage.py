"""PDU decode (modem/pdu/) never crashes on garbage: malformed and truncated PDUs, random bytes and
strings, mutated valid PDUs all decode or raise MalformedPdu."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.errors import MalformedPdu
from modem.pdu import decode, encode_submit

from .pdu_helpers import HELLO_SUBMIT, KNOWN, _deliver_with


# --- garbage never crashes ------------------------------------------------------------------------

TRUNCATIONS = [HELLO_SUBMIT[:n] for n in range(2, len(HELLO_SUBMIT) - 2, 6)]


@pytest.mark.parametrize(
    "pdu",
    ["", "0", "zz", "0011000B916407281553F80000AA0AE8329BFD4697D9EC3", "00" + "03", "0013",
     "0004",  # deliver without address
     _deliver_with(0x08, "03006800"),  # UCS-2 with an odd octet count
     _deliver_with(0x08, "0A0600", first=0x44),  # UDH longer than the user data
     _deliver_with(0x08, "040300050000", first=0x44),  # IE overruns the header
     _deliver_with(0x2C, "0100"),  # compressed
     "000C0C914477000910324250102100004042501319005040",  # status report, month 13
     "0004" + "0C91447700091032" + "0000" + "4250102A000040" + "00",  # non-decimal timestamp
     *TRUNCATIONS],
)
def test_malformed_pdus(pdu: str) -> None:
    with pytest.raises(MalformedPdu):
        decode(pdu)


def _decodes_or_malformed(pdu_hex: str, has_smsc: bool) -> None:
    try:
        decode(pdu_hex, has_smsc=has_smsc)
    except MalformedPdu:
        pass


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=180), has_smsc=st.booleans())
def test_fuzz_random_bytes(data: bytes, has_smsc: bool) -> None:
    _decodes_or_malformed(data.hex(), has_smsc)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60))
def test_fuzz_random_strings(text: str) -> None:
    _decodes_or_malformed(text, True)


VALID = [v[0] for v in KNOWN.values()] + [p.hex for p in encode_submit("+447700900123", "a€" * 120, concat_ref=9)]


@settings(max_examples=500, deadline=None)
@given(pdu=st.sampled_from(VALID), data=st.data())
def test_fuzz_mutated_valid_pdus(pdu: str, data: st.DataObject) -> None:
    raw = bytearray.fromhex(pdu)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _decodes_or_malformed(raw[:cut].hex(), True)
