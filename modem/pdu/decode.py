"""PDU decoding (TS 23.040), pure: anything undecodable raises `MalformedPdu`, never
IndexError/StopIteration/TypeError; emoji and surrogate pairs come out as characters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modem.encoding import GSM7, UCS2, from_septets, unpack_septets
from modem.errors import MalformedPdu
from modem.pdu.records import (DATA8, DCS_HAS_CLASS, IEI_CONCAT8, IEI_CONCAT16, MTI_DELIVER,
                               MTI_STATUS_REPORT, MTI_SUBMIT, SUBMIT_SRR, TON_ALPHANUMERIC,
                               TON_INTERNATIONAL, UDHI, Concat, Deliver, StatusReport, Submit)

_SEMI_OCTET_DIGITS = "0123456789*#abc"


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
    if ton == TON_ALPHANUMERIC:
        return from_septets(unpack_septets(body, length * 4 // 7))
    digits = _digits(body, length)
    return "+" + digits if ton == TON_INTERNATIONAL and digits else digits


def _read_smsc(r: _Reader) -> str | None:
    """SMSC field: length in octets including the type of address; 0 means none."""
    length = r.octet()
    if length == 0:
        return None
    toa = r.octet()
    digits = _digits(r.take(length - 1), 2 * (length - 1))
    return "+" + digits if toa & 0x70 == TON_INTERNATIONAL and digits else digits


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
        return dcs & 0x03 if dcs & DCS_HAS_CLASS else None
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
        if iei == IEI_CONCAT8 and length == 3:
            concat = _concat(value[0], value[1], value[2])
        elif iei == IEI_CONCAT16 and length == 4:
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
    if not first & UDHI:
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


def _read_validity(r: _Reader, first: int) -> int | None:
    """A relative TP-VP as minutes (23.040 §9.2.3.12.1); an enhanced or absolute one is skipped."""
    vpf = first & 0x18
    if vpf == 0x10:
        vp = r.octet()
        if vp <= 143:
            return (vp + 1) * 5
        if vp <= 167:
            return 720 + (vp - 143) * 30
        if vp <= 196:
            return (vp - 166) * 1440
        return (vp - 192) * 7 * 1440
    if vpf in (0x08, 0x18):  # enhanced or absolute: 7 octets
        r.take(7)
    return None


def _decode_submit(r: _Reader, first: int) -> Submit:
    reference = r.octet()
    recipient = _read_address(r)
    r.octet()  # TP-PID
    encoding = _alphabet(r.octet())
    validity = _read_validity(r, first)
    text, concat = _read_user_data(r, first, encoding)
    return Submit(reference, recipient, text, encoding, concat, bool(first & SUBMIT_SRR), validity)


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
    if mti == MTI_DELIVER:
        return _decode_deliver(r, first, smsc)
    if mti == MTI_SUBMIT:
        return _decode_submit(r, first)
    if mti == MTI_STATUS_REPORT:
        return _decode_status_report(r)
    raise MalformedPdu(f"reserved message type (first octet {first:02X})")
