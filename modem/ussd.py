"""USSD requests and answers (3GPP TS 27.007 §7.15, TS 23.038 §5), pure functions with no I/O.

What a `+CUSD: <m>,"<str>",<dcs>` line means depends on three things: `<m>` (0 done, 1 the network
waits for a reply, 2-5 the dialogue failed), the data coding scheme (GSM-7, UCS-2, 8-bit; 0x11 is
UCS-2 preceded by a language code) and how the modem shows text: in the character set it was told
with AT+CSCS ("UCS2" as hex, "GSM" one septet value per character), or, for Huawei sticks in their
default mode, as hex of packed septets whatever the character set (Gammu's ENCODED_USSD).
"""

from __future__ import annotations

from dataclasses import dataclass

from modem.encoding import (GSM7, UCS2, from_gsm_text, from_septets, pack_septets, to_gsm_text,
                            to_septets, unpack_septets)
from modem.errors import ModemError
from modem.lines import is_hex, parse_fields, payload_of

DATA8 = "8bit"
CR = 0x0D
DONE, REPLY_NEEDED = 0, 1
FAILURES = {2: "terminated by the network", 3: "answered by another local client",
            4: "operation not supported", 5: "network time-out"}


@dataclass(frozen=True)
class UssdAnswer:
    status: int  # <m>
    text: str
    dcs: int | None = None

    @property
    def needs_reply(self) -> bool:
        """The network keeps the session open for the user's answer (a menu)."""
        return self.status == REPLY_NEEDED

    @property
    def failed(self) -> bool:
        return self.status not in (DONE, REPLY_NEEDED)


class UssdFailed(ModemError):
    """The network ended the USSD dialogue without an answer (`+CUSD: 2..5`)."""

    def __init__(self, code: str, answer: UssdAnswer) -> None:
        reason = FAILURES.get(answer.status, f"status {answer.status}")
        super().__init__(f"USSD {code}: {reason}" + (f" ({answer.text})" if answer.text else ""))
        self.code = code
        self.answer = answer


def alphabet(dcs: int) -> str:
    """The alphabet of a USSD/CBS data coding scheme (TS 23.038 §5)."""
    group = dcs >> 4
    if group == 0x1:
        return UCS2 if dcs & 0x0F == 0x01 else GSM7
    if 0x4 <= group <= 0x7 or group == 0x9:
        return {0x04: DATA8, 0x08: UCS2}.get(dcs & 0x0C, GSM7)
    if group == 0xF:
        return DATA8 if dcs & 0x04 else GSM7
    return GSM7  # groups 0, 2, 3 (languages) and the reserved ones


def pack_text(text: str) -> str:
    """GSM-7 text as hex of packed septets; a last octet with 7 spare bits gets CR, not '@'
    (TS 23.038 §6.1.2.3.1)."""
    septets = to_septets(text)
    if len(septets) % 8 == 7:
        septets += bytes((CR,))
    return pack_septets(septets).hex().upper()


def unpack_text(hex_text: str) -> str:
    """The reverse of `pack_text`: hex of packed septets as text."""
    data = bytes.fromhex(hex_text)
    septets = unpack_septets(data, len(data) * 8 // 7)
    if len(data) * 8 % 7 == 0 and septets and septets[-1] in (CR, 0):
        septets = septets[:-1]  # 7 fill bits: CR by the spec, 0 from careless encoders
    return from_septets(septets)


def encode_request(code: str, *, charset: str, packed: bool) -> str:
    """The `<str>` of AT+CUSD=1,"<str>",15 for `code` (`*100#`) as this modem reads it."""
    if packed:
        return pack_text(code)
    if charset == "UCS2":
        return code.encode("utf-16-be").hex().upper()
    if charset == "GSM":
        return to_gsm_text(code)
    return code


def _ucs2(hex_text: str, dcs: int) -> str:
    data = bytes.fromhex(hex_text)
    if dcs == 0x11:
        data = data[2:]  # two packed GSM-7 characters of ISO 639 language first
    if len(data) % 2:
        data = data[:-1]
    return data.decode("utf-16-be", "replace").split("\x00", 1)[0]  # some networks pad with junk


def _te_text(text: str, charset: str) -> str:
    """GSM-7 text the modem converted to the TE character set (27.005 Annex A)."""
    if charset == "UCS2" and is_hex(text) and len(text) % 4 == 0:
        return bytes.fromhex(text).decode("utf-16-be", "replace")
    if charset == "HEX" and is_hex(text) and len(text) % 2 == 0:
        return from_septets(bytes(b & 0x7F for b in bytes.fromhex(text)))
    if charset == "GSM":
        return from_gsm_text(text)
    return text


def decode_text(text: str, dcs: int, *, charset: str, packed: bool) -> str:
    """The `<str>` of a +CUSD line as text."""
    kind = alphabet(dcs)
    hexed = is_hex(text) and len(text) % 2 == 0
    if kind == UCS2 and hexed:
        return _ucs2(text, dcs)
    if kind == DATA8 and hexed:
        return bytes.fromhex(text).decode("latin-1")
    if kind == GSM7 and packed and hexed:
        decoded = unpack_text(text)
    else:
        decoded = _te_text(text, charset)
    if kind == GSM7 and dcs == 0x10 and decoded[2:3] == "\r":
        decoded = decoded[3:]  # language code and CR first
    return decoded


def parse_cusd(line: str, *, charset: str, packed: bool = False) -> UssdAnswer:
    """A `+CUSD:` line (its text lines joined with newlines if the modem broke them)."""
    fields = parse_fields(payload_of(line))
    status = int(fields[0]) if fields and fields[0].isdigit() else -1
    dcs = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
    text = fields[1] if len(fields) > 1 else ""
    decoded = decode_text(text, 15 if dcs is None else dcs, charset=charset, packed=packed)
    return UssdAnswer(status, decoded, dcs)
