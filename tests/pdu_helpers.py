"""Known PDUs for the tests: vectors with the fields each one decodes to, and hand-built
SMS-DELIVERs of a given data coding scheme."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modem.encoding import GSM7, UCS2
from modem.pdu import Deliver, StatusReport, Submit

UTC = timezone.utc
PLUS1 = timezone(timedelta(hours=1))
PLUS2 = timezone(timedelta(hours=2))
EMOJI = "😀"
HELLO_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# Wikipedia "GSM 03.40" SMS-DELIVER example (sender with TON 100 "subscriber", no '+').
WIKI_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
# Fields annotated by hand, confirmed with gammu.DecodePDU (see test_known_vectors_agree_with_gammu).
STATUS_REPORT = "0791447758100650060C0C91447700091032425010210000404250102100504000"
ALPHA_DELIVER = "07914477581006500414D0D637396C7EBBCBA0EA1200004250102100004008E834888E2ECBCB"
UCS2_DELIVER = "0791447758100650040C9144770009103200084250102100004010041F04400438043204350442D83DDE00"

KNOWN = {
    "hellohello_submit": (
        HELLO_SUBMIT,
        Submit(0, "+46708251358", "hellohello", GSM7, None, status_report=False, validity_minutes=4 * 24 * 60),
    ),
    "wikipedia_deliver": (
        WIKI_DELIVER,
        Deliver("27838890001", "hellohello", datetime(1999, 3, 29, 15, 16, 59, tzinfo=PLUS2),
                "+27381000015", GSM7, None),
    ),
    "status_report": (
        STATUS_REPORT,
        StatusReport(12, "+447700900123", datetime(2024, 5, 1, 12, 0, tzinfo=PLUS1),
                     datetime(2024, 5, 1, 12, 0, 5, tzinfo=PLUS1), 0x00),
    ),
    "alphanumeric_sender": (
        ALPHA_DELIVER,
        Deliver("Vodafone UK", "hi there", datetime(2024, 5, 1, 12, 0, tzinfo=PLUS1),
                "+447785016005", GSM7, None),
    ),
    "ucs2_emoji_deliver": (
        UCS2_DELIVER,
        Deliver("+447700900123", f"Привет{EMOJI}", datetime(2024, 5, 1, 12, 0, tzinfo=PLUS1),
                "+447785016005", UCS2, None),
    ),
}


def _deliver_with(dcs: int, ud: str, *, first: int = 0x04) -> str:
    """A hand-built SMS-DELIVER from +447700900123 with the given TP-DCS and user data (UDL+UD)."""
    return f"00{first:02X}0C91447700091032" + f"00{dcs:02X}" + "42501021000040" + ud
