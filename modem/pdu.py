"""SMS PDU encode/decode (TS 23.040), pure functions with no I/O.

Septet packing and semi-octet digits come from python-gsmmodem; everything it gets wrong for us is
done here instead: strict phone numbers (it silently turns "+44 7700" into an alphanumeric address),
caller-chosen 8/16-bit concatenation references, emoji and surrogate pairs, and decoding that raises
`MalformedPdu` for garbage instead of IndexError/StopIteration/TypeError.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gsmmodem.pdu import encodeSemiOctets

from modem.encoding import (GSM7, UCS2, from_septets, is_gsm7, pack_septets, split_text, to_septets,
                            unpack_septets)
from modem.errors import InvalidNumber, MalformedPdu

DATA8 = "8bit"  # TP-DCS 8-bit data; decoded as latin-1 text

_NUMBER = re.compile(r"\+?[0-9]{1,20}")  # E.164 or plain digits; ASCII only (not str.isdigit)
_TOA_INTERNATIONAL = 0x91
_TOA_UNKNOWN = 0x81
_TOA_ALPHANUMERIC = 0xD0
_TON_INTERNATIONAL = 0x10
_TON_ALPHANUMERIC = 0x50
_SEMI_OCTET_DIGITS = "0123456789*#abc"

_MTI_DELIVER, _MTI_SUBMIT, _MTI_STATUS_REPORT = 0x00, 0x01, 0x02
_SUBMIT_VPF_RELATIVE = 0x10
_SUBMIT_SRR = 0x20
_DELIVER_MMS = 0x04  # "no more messages waiting"
_UDHI = 0x40
_IEI_CONCAT8, _IEI_CONCAT16 = 0x00, 0x08
_PID_REPLACE_FIRST, _PID_REPLACE_LAST = 0x41, 0x47
_DCS_HAS_CLASS = 0x10

# --------------------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True)
class Concat:
    """Concatenation header of one part; `seq` is 1-based."""

    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class SubmitPart:
    """One SMS-SUBMIT ready for AT+CMGS=<tpdu_length>, then `hex` after the '> ' prompt."""

    hex: str  # uppercase, including the SMSC field ("00" = modem's default SMSC)
    tpdu_length: int  # octets excluding the SMSC field
    seq: int
    total: int
    text: str


@dataclass(frozen=True)
class Deliver:
    sender: str
    text: str
    timestamp: datetime  # tz-aware, the SMSC's service-centre time stamp
    smsc: str | None
    encoding: str
    concat: Concat | None
    pid: int = 0  # TP-PID: 0x41-0x47 replace an earlier message of the same type from this sender
    message_class: int | None = None  # from TP-DCS; 0 is a flash SMS (shown, not stored, by phones)

    @property
    def flash(self) -> bool:
        return self.message_class == 0

    @property
    def replace_type(self) -> int | None:
        """1-7 for "Replace Short Message Type n" (TS 23.040 §9.2.3.9), else None."""
        return self.pid - 0x40 if _PID_REPLACE_FIRST <= self.pid <= _PID_REPLACE_LAST else None


@dataclass(frozen=True)
class Submit:
    reference: int
    recipient: str
    text: str
    encoding: str
    concat: Concat | None
    status_report: bool


@dataclass(frozen=True)
class StatusReport:
    reference: int  # TP-MR of the submitted part this reports on
    recipient: str
    sent_at: datetime
    discharged_at: datetime
    status: int  # TP-Status

    @property
    def outcome(self) -> str:
        """'delivered' (0x00-0x1F), 'pending' (0x20-0x3F, SMSC still trying) or 'failed'."""
        if self.status <= 0x1F:
            return "delivered"
        if self.status <= 0x3F:
            return "pending"
        return "failed"


# --------------------------------------------------------------------------------------------------
# Encoding


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
    toa = _TOA_INTERNATIONAL if number.startswith("+") else _TOA_UNKNOWN
    body = bytes(encodeSemiOctets(digits))
    length = len(body) + 1 if smsc else len(digits)  # SMSC: octets incl. TOA; else: digits
    return bytes((length, toa)) + body


def _alphanumeric_field(name: str) -> bytes:
    """TON 0x50 address (e.g. an operator's "ShopName" sender): up to 11 GSM-7 characters."""
    septets = to_septets(name) if is_gsm7(name) else b""
    if not name or not septets or len(septets) > 11:
        raise InvalidNumber(f"{name!r} is neither a phone number nor a GSM-7 alphanumeric sender (max 11)")
    body = pack_septets(septets)
    return bytes(((len(septets) * 7 + 3) // 4, _TOA_ALPHANUMERIC)) + body


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
        ie = bytes((_IEI_CONCAT16, 4, reference >> 8, reference & 0xFF, total, seq))
    else:
        ie = bytes((_IEI_CONCAT8, 3, reference, total, seq))
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
    return alphabet | _DCS_HAS_CLASS | message_class


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
    first = _MTI_SUBMIT | (_SUBMIT_SRR if status_report else 0)
    vp = b""
    if validity_minutes is not None:
        first |= _SUBMIT_VPF_RELATIVE
        vp = bytes((_relative_validity(validity_minutes),))
    parts: list[SubmitPart] = []
    for seq, part_text in enumerate(texts, start=1):
        udh = _udh(reference, total, seq, ref16) if total > 1 else b""
        udl, ud = _user_data(part_text, encoding, udh)
        tpdu = (
            bytes((first | (_UDHI if udh else 0), message_ref))
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
        first = _MTI_DELIVER | _DELIVER_MMS | (_UDHI if udh else 0)
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
        bytes((_MTI_STATUS_REPORT | _DELIVER_MMS, reference))
        + _number_field(recipient)
        + _timestamp_field(sent_at)
        + _timestamp_field(discharged_at)
        + bytes((status,))
    )
    return (_smsc_field(smsc) + tpdu).hex().upper()


# --------------------------------------------------------------------------------------------------
# Decoding


class _Reader:
    """Octet cursor whose every over-read is a MalformedPdu (never IndexError/StopIteration)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self) -> int:
        return self.take(1)[0]

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedPdu(f"PDU truncated: need {n} octets at offset {self.pos}, have {len(self.data)}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _digits(body: bytes, count: int) -> str:
    nibbles = [n for b in body for n in (b & 0x0F, b >> 4)][:count]
    if any(n == 0x0F for n in nibbles):
        nibbles = nibbles[: nibbles.index(0x0F)]
    return "".join(_SEMI_OCTET_DIGITS[n] for n in nibbles)


def _read_address(r: _Reader) -> str:
    """TP-OA/DA/RA: length in semi-octets (useful digits), type of address, then the value."""
    length = r.octet()
    toa = r.octet()
    body = r.take((length + 1) // 2)
    ton = toa & 0x70
    if ton == _TON_ALPHANUMERIC:
        return from_septets(unpack_septets(body, length * 4 // 7))
    digits = _digits(body, length)
    return "+" + digits if ton == _TON_INTERNATIONAL and digits else digits


def _read_smsc(r: _Reader) -> str | None:
    """SMSC field: length in octets including the type of address; 0 means none."""
    length = r.octet()
    if length == 0:
        return None
    toa = r.octet()
    digits = _digits(r.take(length - 1), 2 * (length - 1))
    return "+" + digits if toa & 0x70 == _TON_INTERNATIONAL and digits else digits


def _from_bcd(octet: int) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise MalformedPdu(f"timestamp octet {octet:02X} is not decimal")
    return low * 10 + high


def _read_timestamp(r: _Reader) -> datetime:
    raw = r.take(7)
    yy, month, day, hour, minute, second = (_from_bcd(b) for b in raw[:6])
    tz = raw[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)  # sign is bit 3; nibbles >9 tolerated (seen on modems)
    offset = timedelta(minutes=15 * quarters) * (-1 if tz & 0x08 else 1)
    try:
        return datetime(
            (1900 if yy >= 90 else 2000) + yy, month, day, hour, minute, second, tzinfo=timezone(offset)
        )
    except ValueError as exc:
        raise MalformedPdu(f"bad timestamp: {exc}") from exc


def _alphabet(dcs: int) -> str:
    """Character set from TP-DCS (TS 23.038 §4); message class bits (e.g. flash 0x10/0x18) ignored."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding / automatic deletion
        if dcs & 0x20:
            raise MalformedPdu(f"compressed user data (DCS {dcs:02X}) is not supported")
        return {0x04: DATA8, 0x08: UCS2}.get(dcs & 0x0C, GSM7)  # reserved 0x0C -> GSM-7 per spec
    if group == 0xE:  # message waiting, store, UCS-2
        return UCS2
    if group == 0xF:
        return DATA8 if dcs & 0x04 else GSM7
    return GSM7  # 0x8-0xB reserved, 0xC/0xD message waiting: GSM-7


def _message_class(dcs: int) -> int | None:
    """Message class from TP-DCS (TS 23.038 §4): general and auto-deletion groups when bit 4 is
    set, and always in group 0xF."""
    group = dcs >> 4
    if group <= 0x7:
        return dcs & 0x03 if dcs & _DCS_HAS_CLASS else None
    if group == 0xF:
        return dcs & 0x03
    return None


def _parse_udh(header: bytes) -> Concat | None:
    """The concatenation IE (8- or 16-bit reference) if any; other IEs are skipped."""
    concat = None
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            raise MalformedPdu("user data header truncated")
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if len(value) != length:
            raise MalformedPdu("user data header element overruns the header")
        if iei == _IEI_CONCAT8 and length == 3:
            concat = _concat(value[0], value[1], value[2])
        elif iei == _IEI_CONCAT16 and length == 4:
            concat = _concat(value[0] << 8 | value[1], value[2], value[3])
        i += 2 + length
    return concat


def _concat(reference: int, total: int, seq: int) -> Concat | None:
    """23.040 §9.2.3.24.1: total 0, seq 0 or seq > total means the element must be ignored."""
    if total == 0 or not 1 <= seq <= total:
        return None
    return Concat(reference, total, seq)


def _split_udh(ud: bytes, first: int) -> tuple[int, Concat | None]:
    """(octets taken by the header incl. its UDHL octet, concatenation) when TP-UDHI is set."""
    if not first & _UDHI:
        return 0, None
    if not ud or ud[0] + 1 > len(ud):
        raise MalformedPdu("user data header longer than the user data")
    return ud[0] + 1, _parse_udh(ud[1 : ud[0] + 1])


def _ucs2_text(body: bytes) -> str:
    if len(body) % 2:
        raise MalformedPdu("UCS-2 user data has an odd number of octets")
    return body.decode("utf-16-be", "replace")  # pairs -> real character, lone half -> U+FFFD


def _read_user_data(r: _Reader, first: int, encoding: str) -> tuple[str, Concat | None]:
    """TP-UDL and TP-UD; for GSM-7 the UDL counts septets, header and fill bits included."""
    udl = r.octet()
    ud = r.take((udl * 7 + 7) // 8 if encoding == GSM7 else udl)
    header_octets, concat = _split_udh(ud, first)
    if encoding == GSM7:
        text = from_septets(unpack_septets(ud, udl)[(header_octets * 8 + 6) // 7 :])
    elif encoding == UCS2:
        text = _ucs2_text(ud[header_octets:])
    else:
        text = ud[header_octets:].decode("latin-1")
    return text, concat


def _decode_deliver(r: _Reader, first: int, smsc: str | None) -> Deliver:
    sender = _read_address(r)
    pid = r.octet()
    dcs = r.octet()
    encoding = _alphabet(dcs)
    timestamp = _read_timestamp(r)
    text, concat = _read_user_data(r, first, encoding)
    return Deliver(sender, text, timestamp, smsc, encoding, concat, pid, _message_class(dcs))


def _skip_validity(r: _Reader, first: int) -> None:
    vpf = first & 0x18
    if vpf == 0x10:
        r.take(1)
    elif vpf in (0x08, 0x18):  # enhanced or absolute: 7 octets
        r.take(7)


def _decode_submit(r: _Reader, first: int) -> Submit:
    reference = r.octet()
    recipient = _read_address(r)
    r.octet()  # TP-PID
    encoding = _alphabet(r.octet())
    _skip_validity(r, first)
    text, concat = _read_user_data(r, first, encoding)
    return Submit(reference, recipient, text, encoding, concat, bool(first & _SUBMIT_SRR))


def _decode_status_report(r: _Reader) -> StatusReport:
    reference = r.octet()
    recipient = _read_address(r)
    sent_at = _read_timestamp(r)
    discharged_at = _read_timestamp(r)
    return StatusReport(reference, recipient, sent_at, discharged_at, r.octet())


def decode(pdu_hex: str, *, has_smsc: bool = True) -> Deliver | Submit | StatusReport:
    """Decode a PDU as the modem shows it (+CMT, +CMGR, +CDS). Anything undecodable -> MalformedPdu."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except (ValueError, TypeError, AttributeError) as exc:
        raise MalformedPdu(f"not a hex PDU: {exc}") from exc
    r = _Reader(data)
    smsc = _read_smsc(r) if has_smsc else None
    first = r.octet()
    mti = first & 0x03
    if mti == _MTI_DELIVER:
        return _decode_deliver(r, first, smsc)
    if mti == _MTI_SUBMIT:
        return _decode_submit(r, first)
    if mti == _MTI_STATUS_REPORT:
        return _decode_status_report(r)
    raise MalformedPdu(f"reserved message type (first octet {first:02X})")
