"""Classify the lines a modem prints, with no I/O.

A modem interleaves three things on one wire: answers to the command in flight, the final result code
that ends them, and unsolicited result codes (URCs) that may arrive at any moment, even between two
lines of another answer. Getting this split right is what keeps an SMS from being swallowed, so it is
pure and table-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class LineKind(Enum):
    OK = "ok"
    ERROR = "error"  # plain ERROR or a call-related failure code
    CME_ERROR = "cme"
    CMS_ERROR = "cms"
    UNSOLICITED = "urc"
    UNSOLICITED_WITH_PDU = "urc+pdu"  # +CMT / +CDS: the next line is a PDU
    RESPONSE = "response"


_FINAL_ERRORS = ("ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "COMMAND NOT SUPPORT")

# Prefixes that are unsolicited unless the command in flight asked for them.
_URC_PREFIXES = (
    "+CMTI:", "+CDSI:", "+CUSD:", "+CLIP:", "+CRING:", "+CREG:", "+CGREG:", "+CEREG:", "+CPIN:",
    "+CFUN:", "+CIEV:", "+CTZV:", "+CTZE:", "+QIND:", "+QUSIM:", "+ZPAS:", "+ZUSIMR:", "+ZDONR:",
    "+PACSP", "*PSUTTZ:", "DST:", "+CSQN:",
    "^RSSI:", "^HCSQ:", "^MODE:", "^BOOT:", "^SRVST:", "^SIMST:", "^SYSSTART", "^DSFLOWRPT:",
    "^CEND:", "^ORIG:", "^CONF:", "^CONN:", "^STIN:", "^NWTIME:", "^RFSWITCH:", "^ACTIVEBAND:",
    "^CSNR:", "+CGEV:", "*RADIOPOWER:",
    "^SMMEMFULL",
)
_URC_EXACT = frozenset({
    "RING", "RDY", "Call Ready", "SMS Ready", "NORMAL POWER DOWN", "UNDER-VOLTAGE POWER DOWN",
    "UNDER-VOLTAGE WARNNING", "OVER-VOLTAGE POWER DOWN", "OVER-VOLTAGE WARNNING", "PB DONE", "START",
    "+ZEND",
})
_URC_WITH_PDU = ("+CMT:", "+CDS:")

_CODE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$")
# An information line of some command: `+CGEV: ...`, `^CSNR:-100,-9`, `*RADIOPOWER: 1`, `+ZEND`.
_PREFIXED = re.compile(r"^[+^*$%][A-Z][A-Z0-9_]*(:|$)")
# Answers whose prefix is not the command's own: SIMCom prints `+ICCID:` for AT+CCID.
_ANSWER_ALIASES = {"+CCID:": ("+CCID:", "+ICCID:")}


@dataclass(frozen=True)
class Classified:
    kind: LineKind
    line: str
    code: int | None = None  # for CME/CMS errors given as numbers
    text: str = ""  # for CME/CMS errors given as words (AT+CMEE=2)


def response_prefix(command: str) -> str | None:
    """The prefix of the information lines a command answers with: `AT+CREG?` -> `+CREG:`.

    Knowing it lets `+CREG: 0,1` be a response to `AT+CREG?` but an unsolicited line otherwise.
    """
    match = re.match(r"^AT([+^*$][A-Z0-9]+)", command.strip().upper())
    return f"{match.group(1)}:" if match else None


def classify(line: str, *, expecting: str | None = None) -> Classified:
    """Classify one complete line (already stripped of CR/LF).

    `expecting` is the response prefix of the command in flight; a line with that prefix is a response
    even when the same prefix is also used unsolicited (`+CREG:`, `+CPIN:`, `+CUSD:`). While such a
    command is in flight, a line with any other prefix (`^CSNR:`, `+CGEV:`, a vendor's URC nobody has
    listed yet) is unsolicited: it must not become the command's answer.
    """
    if line == "OK":
        return Classified(LineKind.OK, line)
    if line in _FINAL_ERRORS:
        return Classified(LineKind.ERROR, line)
    match = _CODE.match(line)
    if match:
        kind = LineKind.CME_ERROR if match.group(1) == "CME" else LineKind.CMS_ERROR
        detail = match.group(2).strip()
        if detail.isdigit():
            return Classified(kind, line, code=int(detail))
        return Classified(kind, line, code=None, text=detail)
    if expecting and line.startswith(_ANSWER_ALIASES.get(expecting, expecting)):
        return Classified(LineKind.RESPONSE, line)
    if line.startswith(_URC_WITH_PDU):
        return Classified(LineKind.UNSOLICITED_WITH_PDU, line)
    if line in _URC_EXACT or line.startswith(_URC_PREFIXES):
        return Classified(LineKind.UNSOLICITED, line)
    if expecting and _PREFIXED.match(line):
        return Classified(LineKind.UNSOLICITED, line)
    return Classified(LineKind.RESPONSE, line)


_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def is_hex(text: str) -> bool:
    """True for a non-empty run of hex digits (a PDU line)."""
    return bool(_HEX.match(text))


def pdu_line(line: str) -> str | None:
    """The hex PDU of an answer line, or None if the line is not one.

    Some phones end the PDU line with `,0` (Gammu strips it too); the PDU is the hex before it.
    """
    while line.endswith(",0"):
        line = line[:-2]
    return line if is_hex(line) else None


def open_quote(text: str) -> bool:
    """True when `text` ends inside a double-quoted string: the modem broke a line within it
    (a multi-line USSD menu in the GSM character set)."""
    return text.count('"') % 2 == 1


def parse_fields(payload: str) -> list[str]:
    """Split the fields after `+XYZ: ` on commas outside quotes, dropping the quotes.

    `'"SM",3'` -> `['SM', '3']`; `'0,"Balance: 5, thanks",15'` -> `['0', 'Balance: 5, thanks', '15']`.
    """
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in payload:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def payload_of(line: str) -> str:
    """The part of `+XYZ: a,b` after the colon, stripped."""
    return line.split(":", 1)[1].strip() if ":" in line else ""


def decode_ucs2_hex(text: str) -> str:
    """Decode a UCS-2 hex string as modems print after AT+CSCS="UCS2"; return the input if it isn't one."""
    if len(text) >= 4 and len(text) % 4 == 0 and is_hex(text):
        try:
            return bytes.fromhex(text).decode("utf-16-be")
        except UnicodeDecodeError:
            return text
    return text


_PHONE_CHARS = frozenset("+0123456789*#")


def decode_number(text: str) -> str:
    """A phone number (SMSC, own number) as a modem prints it, plain or UCS-2 hex.

    Plain digits are hex digits too: `447785016005` (12 digits) would decode as three CJK
    characters. The hex reading is taken only when it gives a phone number.
    """
    decoded = decode_ucs2_hex(text)
    return decoded if decoded and set(decoded) <= _PHONE_CHARS else text


def parse_ranges(payload: str) -> list[set[int]]:
    """The values a test command's answer offers per parameter: `(0-3),(0,2),1` -> [{0, 1, 2, 3},
    {0, 2}, {1}]; an empty `()` is an empty set."""
    offered: list[set[int]] = []
    for parens, bare in re.findall(r"\(([^)]*)\)|(\d+(?:-\d+)?)", payload):
        values: set[int] = set()
        for item in (parens or bare).split(","):
            low, _, high = item.strip().partition("-")
            if low.isdigit() and (not high or high.isdigit()):
                values.update(range(int(low), int(high or low) + 1))
        offered.append(values)
    return offered
