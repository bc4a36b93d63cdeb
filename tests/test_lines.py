"""Line classification, table-driven: what is an answer, what is a final code, what is unsolicited."""

import pytest

from modem.lines import (LineKind, classify, decode_number, decode_ucs2_hex, open_quote, parse_fields,
                         pdu_line, response_prefix)


@pytest.mark.parametrize(
    ("line", "expecting", "kind", "code"),
    [
        ("OK", None, LineKind.OK, None),
        ("ERROR", None, LineKind.ERROR, None),
        ("+CMS ERROR: 500", None, LineKind.CMS_ERROR, 500),
        ("+CME ERROR: 10", None, LineKind.CME_ERROR, 10),
        ("+CME ERROR: SIM not inserted", None, LineKind.CME_ERROR, None),
        ('+CMTI: "SM",3', None, LineKind.UNSOLICITED, None),
        ('+CMTI: "SM",3', "+CMGL:", LineKind.UNSOLICITED, None),  # mid-response: still unsolicited
        ("+CMT: ,24", None, LineKind.UNSOLICITED_WITH_PDU, None),
        ("+CDS: 25", "+CSQ:", LineKind.UNSOLICITED_WITH_PDU, None),
        ("+CREG: 0,1", "+CREG:", LineKind.RESPONSE, None),  # answer to AT+CREG?
        ("+CREG: 1", None, LineKind.UNSOLICITED, None),  # the same prefix unsolicited
        ('+CUSD: 0,"Balance 5.00. RING 123 for offers",15', None, LineKind.UNSOLICITED, None),
        ("RING", None, LineKind.UNSOLICITED, None),
        ("^RSSI:14", "+CSQ:", LineKind.UNSOLICITED, None),
        ("^BOOT:12345,0,0,0,72", None, LineKind.UNSOLICITED, None),
        ("SMS Ready", None, LineKind.UNSOLICITED, None),
        ("+CSQ: 21,99", "+CSQ:", LineKind.RESPONSE, None),
        ("SIMCOM_Ltd", "+CGMI:", LineKind.RESPONSE, None),
        ("0791447758100650040C914477", None, LineKind.RESPONSE, None),
        ("START", None, LineKind.UNSOLICITED, None),  # SIMCom's reboot marker: dispatched, not stray
        # vendor URCs inside another command's answer are not its answer (_ask returned them)
        ("^CSNR:-100,-9", "+CGMM:", LineKind.UNSOLICITED, None),
        ("+CGEV: ME PDN ACT 1", "+CSQ:", LineKind.UNSOLICITED, None),
        ("*RADIOPOWER: 1", "+CIMI:", LineKind.UNSOLICITED, None),
        ("+ZEND", "+CGSN:", LineKind.UNSOLICITED, None),
        ("+ZEND", None, LineKind.UNSOLICITED, None),
        ("^CSNR:-100,-9", None, LineKind.UNSOLICITED, None),
        ("+QNEWTHING: 3", "+CGMI:", LineKind.UNSOLICITED, None),  # one nobody listed yet
        ("+GCAP: +CGSM", None, LineKind.RESPONSE, None),  # part of ATI's answer (no prefix expected)
        ("+ICCID: 8944150000000000018", "+CCID:", LineKind.RESPONSE, None),  # SIMCom's AT+CCID
    ],
)
def test_classify(line, expecting, kind, code):
    result = classify(line, expecting=expecting)
    assert result.kind is kind
    assert result.code == code


def test_word_ring_inside_ussd_text_is_not_a_call():
    """Defect 7: a USSD reply containing RING must not be taken for a call."""
    result = classify('+CUSD: 0,"Call us: RING 0800",15')
    assert result.kind is LineKind.UNSOLICITED
    assert result.line.startswith("+CUSD")


@pytest.mark.parametrize(
    ("command", "prefix"),
    [("AT+CREG?", "+CREG:"), ("AT+CMGL=4", "+CMGL:"), ("AT^ICCID?", "^ICCID:"), ("ATE0", None),
     ("at+csq", "+CSQ:"), ("AT", None)],
)
def test_response_prefix(command, prefix):
    assert response_prefix(command) == prefix


@pytest.mark.parametrize(
    ("payload", "fields"),
    [('"SM",3', ["SM", "3"]), ('0,"Balance: 5, thanks",15', ["0", "Balance: 5, thanks", "15"]),
     ("21,99", ["21", "99"]), ("", [""])],
)
def test_parse_fields(payload, fields):
    assert parse_fields(payload) == fields


def test_decode_ucs2_hex():
    assert decode_ucs2_hex("004D0054005300200052005500530053") == "MTS RUSS"
    assert decode_ucs2_hex("Vodafone") == "Vodafone"
    assert decode_ucs2_hex("12345") == "12345"


@pytest.mark.parametrize(
    ("line", "pdu"),
    [("07914477581006500404D0", "07914477581006500404D0"),
     ("07914477581006500404D0,0", "07914477581006500404D0"),  # some phones append ",0" (Gammu strips it)
     ("+CMGR: 0,,0", None), ("", None), ("OK", None)],
)
def test_pdu_line(line, pdu):
    assert pdu_line(line) == pdu


@pytest.mark.parametrize(
    ("text", "number"),
    [("447785016005", "447785016005"),  # 12 digits without + are hex too: not three CJK characters
     ("4477850160051234", "4477850160051234"),  # 16 digits
     ("+447785016005", "+447785016005"),
     ("002B003400340037003700380035", "+447785"),  # UCS2 hex of a number
     ("0030003100320033", "0123")],
)
def test_decode_number(text, number):
    assert decode_number(text) == number


def test_open_quote():
    assert open_quote('+CUSD: 1,"Menu')
    assert not open_quote('+CUSD: 1,"Menu\n1 Balance",15')
    assert not open_quote("+CUSD: 4")
