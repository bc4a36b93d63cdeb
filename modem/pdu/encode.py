"""SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT encoding (TS 23.040), pure.

Semi-octet digits come from python-gsmmodem; phone numbers are strict here (it silently turns
"+44 7700" into an alphanumeric address) and concatenation references are the caller's choice.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from gsmmodem.pdu import encodeSemiOctets

from modem.encoding import GSM7, UCS2, is_gsm7, pack_septets, split_text, to_septets
from modem.errors import InvalidNumber
from modem.pdu.records import (DCS_HAS_CLASS, DELIVER_MMS, IEI_CONCAT8, IEI_CONCAT16, MTI_DELIVER,
                               MTI_STATUS_REPORT, MTI_SUBMIT, SUBMIT_SRR, SUBMIT_VPF_RELATIVE,
                               TOA_ALPHANUMERIC, TOA_INTERNATIONAL, TOA_UNKNOWN, UDHI, SubmitPart)

_NUMBER = re.compile(r"\+?[0-9]{1,20}")  # E.164 or plain digits; ASCII only (not str.isdigit)


def new_concat_reference(ref16: bool = False) -> int:
    """A random concatenation reference, so parts of messages sent across reconnects never mix."""
    return 1 + secrets.randbelow(0xFFFF if ref16 else 0xFF)


def _number_field(number: str, *, smsc: bool = False) -> bytes:
    """Address field for an E.164 ("+4477...") or plain-digit number; anything else is refused."""
    if not isinstance(number, str) or not _NUMBER.fullmatch(number):
        raise InvalidNumber(
            f"{number!r} is not a phone number: use '+' and digits (E.164) or digits only, "
            "without spaces, dashes or letters"
        )
    digits = number.lstrip("+")
    toa = TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN
    body = bytes(encodeSemiOctets(digits))
    length = len(body) + 1 if smsc else len(digits)  # SMSC: octets incl. TOA; else: digits
    return bytes((length, toa)) + body


def _alphanumeric_field(name: str) -> bytes:
    """TON 0x50 address (e.g. an operator's "ShopName" sender): up to 11 GSM-7 characters."""
    septets = to_septets(name) if is_gsm7(name) else b""
    if not name or not septets or len(septets) > 11:
        raise InvalidNumber(f"{name!r} is neither a phone number nor a GSM-7 alphanumeric sender (max 11)")
    body = pack_septets(septets)
    return bytes(((len(septets) * 7 + 3) // 4, TOA_ALPHANUMERIC)) + body


def _smsc_field(smsc: str | None) -> bytes:
    return b"\x00" if smsc is None else _number_field(smsc, smsc=True)


def _bcd(value: int) -> int:
    """Two decimal digits as a swapped semi-octet pair."""
    return (value % 10) << 4 | (value // 10)


def _timestamp_field(ts: datetime) -> bytes:
    """7-octet TP-SCTS: local fields plus the UTC offset in signed quarter hours."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    if not 1990 <= ts.year <= 2089:
        raise ValueError("timestamp year must be within 1990-2089 (two-digit year)")
    quarters = int(ts.utcoffset().total_seconds() // 900)  # type: ignore[union-attr]
    if abs(quarters) > 79:
        raise ValueError("UTC offset does not fit a PDU time stamp (max 19:45)")
    tz = _bcd(abs(quarters)) | (0x08 if quarters < 0 else 0)
    fields = (ts.year % 100, ts.month, ts.day, ts.hour, ts.minute, ts.second)
    return bytes(_bcd(v) for v in fields) + bytes((tz,))


def _relative_validity(minutes: int) -> int:
    """TP-VP (relative, 23.040 §9.2.3.12.1): the smallest period not shorter than asked, max 63 weeks."""
    if minutes <= 0:
        raise ValueError("validity_minutes must be positive")
    if minutes <= 720:
        return (minutes + 4) // 5 - 1
    if minutes <= 1440:
        return 143 + (minutes - 720 + 29) // 30
    days = (minutes + 1439) // 1440
    if days <= 30:
        return 166 + days
    return min(255, 192 + (days + 6) // 7)


def _udh(reference: int, total: int, seq: int, ref16: bool) -> bytes:
    """User data header (with its UDHL octet) carrying one concatenation IE."""
    if ref16:
        ie = bytes((IEI_CONCAT16, 4, reference >> 8, reference & 0xFF, total, seq))
    else:
        ie = bytes((IEI_CONCAT8, 3, reference, total, seq))
    return bytes((len(ie),)) + ie


def _user_data(text: str, encoding: str, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD). GSM-7 UDL counts septets including the header and its fill bits."""
    if encoding == UCS2:
        payload = udh + text.encode("utf-16-be")
        return len(payload), payload
    header_septets = (len(udh) * 8 + 6) // 7
    septets = bytes(header_septets) + to_septets(text)
    packed = bytearray(pack_septets(septets))
    packed[: len(udh)] = udh  # header occupies the leading zero septets; the rest are fill bits
    return len(septets), bytes(packed)


def _dcs(encoding: str, message_class: int | None = None) -> int:
    alphabet = 0x08 if encoding == UCS2 else 0x00
    if message_class is None:
        return alphabet
    if not 0 <= message_class <= 3:
        raise ValueError("message_class must be 0..3")
    return alphabet | DCS_HAS_CLASS | message_class


def _check_parts(total: int) -> int:
    """The concatenation header counts parts in one octet."""
    if total > 255:
        raise ValueError(f"text needs {total} parts; an SMS can have at most 255")
    return total


def _check_reference(concat_ref: int | None, parts: int, ref16: bool) -> int:
    if concat_ref is None:
        return new_concat_reference(ref16) if parts > 1 else 0
    if not 0 <= concat_ref <= (0xFFFF if ref16 else 0xFF):
        raise ValueError(f"concat_ref {concat_ref} does not fit a {'16' if ref16 else '8'}-bit reference")
    return concat_ref


def encode_submit(
    number: str,
    text: str,
    *,
    concat_ref: int | None = None,
    ref16: bool = False,
    smsc: str | None = None,
    status_report: bool = True,
    validity_minutes: int | None = None,
    message_ref: int = 0,
) -> list[SubmitPart]:
    """SMS-SUBMIT PDUs for `text`, one per part (parts as `split_text` cuts them).

    Every part carries `message_ref`; modems replace TP-MR with their own counter and report it in
    `+CMGS: <mr>`, which is what status reports refer to.
    """
    address = _number_field(number)
    smsc_field = _smsc_field(smsc)
    if not 0 <= message_ref <= 0xFF:
        raise ValueError("message_ref must be 0..255")
    encoding, texts = split_text(text, ref16=ref16)
    total = _check_parts(len(texts))
    reference = _check_reference(concat_ref, total, ref16)
    first = MTI_SUBMIT | (SUBMIT_SRR if status_report else 0)
    vp = b""
    if validity_minutes is not None:
        first |= SUBMIT_VPF_RELATIVE
        vp = bytes((_relative_validity(validity_minutes),))
    parts: list[SubmitPart] = []
    for seq, part_text in enumerate(texts, start=1):
        udh = _udh(reference, total, seq, ref16) if total > 1 else b""
        udl, ud = _user_data(part_text, encoding, udh)
        tpdu = (
            bytes((first | (UDHI if udh else 0), message_ref))
            + address
            + bytes((0x00, _dcs(encoding)))
            + vp
            + bytes((udl,))
            + ud
        )
        parts.append(SubmitPart((smsc_field + tpdu).hex().upper(), len(tpdu), seq, total, part_text))
    return parts


def _sender_field(sender: str) -> bytes:
    return _number_field(sender) if _NUMBER.fullmatch(sender) else _alphanumeric_field(sender)


def encode_deliver(
    sender: str,
    text: str,
    timestamp: datetime,
    *,
    concat_ref: int | None = None,
    ref16: bool = False,
    smsc: str | None = "+447785016005",
    message_class: int | None = None,
    pid: int = 0,
) -> list[str]:
    """SMS-DELIVER PDUs (hex, with SMSC field) as a network would hand them to the modem;
    `message_class` 0 makes a flash SMS, `pid` 0x41-0x47 a replace-type one."""
    if not 0 <= pid <= 0xFF:
        raise ValueError("pid must be 0..255")
    _dcs(GSM7, message_class)  # a bad class is refused before any work
    address = _sender_field(sender)
    smsc_field = _smsc_field(smsc)
    scts = _timestamp_field(timestamp)
    encoding, texts = split_text(text, ref16=ref16)
    reference = _check_reference(concat_ref, _check_parts(len(texts)), ref16)
    pdus: list[str] = []
    for seq, part_text in enumerate(texts, start=1):
        udh = _udh(reference, len(texts), seq, ref16) if len(texts) > 1 else b""
        udl, ud = _user_data(part_text, encoding, udh)
        first = MTI_DELIVER | DELIVER_MMS | (UDHI if udh else 0)
        dcs = _dcs(encoding, message_class)
        tpdu = bytes((first,)) + address + bytes((pid, dcs)) + scts + bytes((udl,)) + ud
        pdus.append((smsc_field + tpdu).hex().upper())
    return pdus


def encode_status_report(
    reference: int,
    recipient: str,
    status: int,
    sent_at: datetime,
    discharged_at: datetime,
    *,
    smsc: str | None = "+447785016005",
) -> str:
    """SMS-STATUS-REPORT PDU (hex, with SMSC field) for the part whose TP-MR was `reference`."""
    if not 0 <= reference <= 0xFF or not 0 <= status <= 0xFF:
        raise ValueError("reference and status must be 0..255")
    tpdu = (
        bytes((MTI_STATUS_REPORT | DELIVER_MMS, reference))
        + _number_field(recipient)
        + _timestamp_field(sent_at)
        + _timestamp_field(discharged_at)
        + bytes((status,))
    )
    return (_smsc_field(smsc) + tpdu).hex().upper()
