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
    "^SMMEMFULL",
)
_URC_EXACT = frozenset({
    "RING", "RDY", "Call Ready", "SMS Ready", "NORMAL POWER DOWN", "UNDER-VOLTAGE POWER DOWN",
    "UNDER-VOLTAGE WARNNING", "OVER-VOLTAGE POWER DOWN", "OVER-VOLTAGE WARNNING", "PB DONE",
})
_URC_WITH_PDU = ("+CMT:", "+CDS:")

_CODE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$")


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
    even when the same prefix is also used unsolicited (`+CREG:`, `+CPIN:`, `+CUSD:`).
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
    if expecting and line.startswith(expecting):
        return Classified(LineKind.RESPONSE, line)
    if line.startswith(_URC_WITH_PDU):
        return Classified(LineKind.UNSOLICITED_WITH_PDU, line)
    if line in _URC_EXACT or line.startswith(_URC_PREFIXES):
        return Classified(LineKind.UNSOLICITED, line)
    return Classified(LineKind.RESPONSE, line)


_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def is_hex(text: str) -> bool:
    """True for a non-empty run of hex digits (a PDU line)."""
    return bool(_HEX.match(text))


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
