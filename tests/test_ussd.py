"""USSD answers decoded (modem/ussd.py): status codes, data coding schemes, character sets, and the
packed septets of Huawei sticks. Lines from Gammu's tests/at-ussd dumps of real modems."""

from __future__ import annotations

import pytest

from modem.encoding import GSM7, UCS2
from modem.ussd import DATA8, UssdFailed, alphabet, encode_request, pack_text, parse_cusd, unpack_text

# Gammu tests/at-ussd/issue377-HE910-D.dump: DCS 17, two octets of packed language ("ar") first.
HE910 = ('+CUSD: 2,"613906310635064A062F06430020003100300037002E003900330020062F002E0644060C0627064406'
         '3506440627062D064A0629002000200032003000310038002D00310031002D003000390000FFFF60B16260EEEE",17')
# Gammu tests/at-ussd/issue109-E3276.dump (DCS 72, UCS-2).
E3276 = ('+CUSD: 0,"0414043B044F00200441043F044004300432043A04380020043E002004310430043B0430043D04410435'
         '0020043D04300431043504400438044204350020002A0031003000350023002E002004230441043B0443043304300020'
         '043104350441043F043B04300442043D0430002E",72')


@pytest.mark.parametrize(
    ("line", "charset", "packed", "status", "text"),
    [
        (HE910, "UCS2", False, 2, "رصيدك 107.93 د.ل،الصلاحية  2018-11-09"),
        (E3276, "UCS2", False, 0, "Для справки о балансе наберите *105#. Услуга бесплатна."),
        ('+CUSD: 1,"Kontostand: 3.00 EUR",15', "IRA", False, 1, "Kontostand: 3.00 EUR"),
        ('+CUSD: 0,"004200610020003500200040",15', "UCS2", False, 0, "Ba 5 @"),  # GSM-7 DCS shown in UCS2
        ('+CUSD: 0,"\x00 \x01 \x02 \x04 \x10 \x11",15', "GSM", False, 0, "@ £ $ è Δ _"),  # GSM-7 bytes
        ('+CUSD: 1,"Menu\n1 Balance\n2 Top up",15', "GSM", False, 1, "Menu\n1 Balance\n2 Top up"),
        (f'+CUSD: 0,"{pack_text("Balance: 5.00 GBP @ £")}",15', "GSM", True, 0, "Balance: 5.00 GBP @ £"),
        (f'+CUSD: 0,"{pack_text("Balance 1")}",15', "UCS2", True, 0, "Balance 1"),
        ("+CUSD: 4", "UCS2", False, 4, ""),
        ('+CUSD: 0,"6869",68', "GSM", False, 0, "hi"),  # 8-bit data as hex
    ],
)
def test_parse_cusd(line, charset, packed, status, text):
    answer = parse_cusd(line, charset=charset, packed=packed)
    assert (answer.status, answer.text) == (status, text)


def test_gammu_e160_packed_answer():
    """tests/at-ussd/01-E160.dump: no quotes, no DCS, packed septets."""
    line = "+CUSD: 0, 49B41C74ACD3D16171D90D66666666666666666666B45CAC76C3CD6CB41B2D060389CB74F9FE4C07DD5CB91AA85897BF1B"
    answer = parse_cusd(line, charset="GSM", packed=True)
    assert answer.text.startswith("Ihr Guthaben") and answer.text.endswith("beträgt 7.95 Euro")


@pytest.mark.parametrize(
    ("status", "failed", "needs_reply"),
    [(0, False, False), (1, False, True), (2, True, False), (3, True, False), (4, True, False),
     (5, True, False)],
)
def test_status(status, failed, needs_reply):
    answer = parse_cusd(f'+CUSD: {status},"x",15', charset="GSM")
    assert (answer.failed, answer.needs_reply) == (failed, needs_reply)


def test_failure_names_the_reason():
    error = UssdFailed("*100#", parse_cusd("+CUSD: 4", charset="GSM"))
    assert "not supported" in str(error)


@pytest.mark.parametrize(
    ("dcs", "kind"),
    [(0x0F, GSM7), (0x00, GSM7), (0x10, GSM7), (0x11, UCS2), (0x48, UCS2), (0x44, DATA8), (0x40, GSM7),
     (0x98, UCS2), (0xF4, DATA8), (0xF0, GSM7), (0x20, GSM7)],
)
def test_alphabet(dcs, kind):
    assert alphabet(dcs) == kind


@pytest.mark.parametrize("text", ["*100#", "1234567", "12345678", "Balance @ 5", "", "x" * 15])
def test_packed_round_trip(text):
    assert unpack_text(pack_text(text)) == text


def test_packed_request_as_gammu_sends_it():
    assert pack_text("*100#") == "AA180C3602"


@pytest.mark.parametrize(
    ("charset", "packed", "sent"),
    [("UCS2", False, "002A0031003000300023"), ("GSM", False, "*100#"), ("IRA", False, "*100#"),
     ("GSM", True, "AA180C3602")],
)
def test_encode_request(charset, packed, sent):
    assert encode_request("*100#", charset=charset, packed=packed) == sent
