"""Small text helpers shared by the interpreter: error texts, UCS2 hex, identities, timestamps."""

from __future__ import annotations

from datetime import datetime

CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    15: "SIM wrong", 16: "incorrect password", 20: "memory full", 21: "invalid index",
    30: "no network service", 31: "network timeout", 50: "Incorrect parameters", 100: "unknown",
    515: "Please wait, init or command processing in progress.",
}
CMS_TEXT = {
    1: "Unassigned (unallocated) number", 8: "Operator determined barring", 10: "Call barred",
    21: "Short message transfer rejected", 28: "Unidentified subscriber", 38: "Network out of order",
    41: "Temporary failure", 42: "Congestion", 47: "Resources unavailable, unspecified",
    300: "ME failure", 302: "Operation not allowed", 303: "Operation not supported",
    304: "Invalid PDU mode parameter", 305: "Invalid text mode parameter", 310: "SIM not inserted",
    311: "SIM PIN required", 316: "SIM PUK required", 320: "Memory failure",
    321: "Invalid memory index", 322: "Memory full", 330: "SMSC address unknown",
    331: "No network service", 332: "Network timeout", 340: "No +CNMA acknowledgement expected",
    500: "Unknown error",
}


def ucs2_hex(text: str) -> str:
    """How modems show text after AT+CSCS="UCS2": UTF-16BE as uppercase hex."""
    return text.encode("utf-16-be").hex().upper()


def from_ucs2_hex(text: str) -> str:
    try:
        return bytes.fromhex(text).decode("utf-16-be")
    except ValueError:
        return text


def luhn(digits: str) -> str:
    """`digits` plus its Luhn check digit (IMEI, ICCID)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def swap_pairs(digits: str) -> str:
    """Huawei's ^ICCID shows the raw EF_ICCID bytes: each digit pair swapped."""
    if len(digits) % 2:
        digits += "F"
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))


def text_timestamp(ts: datetime) -> str:
    """27.005 text-mode <scts>: "yy/MM/dd,hh:mm:ss±zz" (zz in quarter hours)."""
    offset = ts.utcoffset()
    quarters = int(offset.total_seconds() // 900) if offset is not None else 0
    return ts.strftime("%y/%m/%d,%H:%M:%S") + f"{'-' if quarters < 0 else '+'}{abs(quarters):02d}"
