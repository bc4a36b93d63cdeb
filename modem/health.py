"""What a modem says about itself and its network (pure): identity, registration, signal, and the
one-line answers they are read from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modem.lines import decode_number, parse_fields, payload_of

REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown",
                5: "roaming", 6: "home", 7: "roaming", 8: "emergency only"}


@dataclass(frozen=True)
class Identity:
    manufacturer: str
    model: str
    firmware: str
    imei: str
    imsi: str | None
    iccid: str | None


@dataclass(frozen=True)
class Signal:
    csq: int | None  # 0-31, None when the modem does not know (99)
    dbm: int | None
    bars: int  # 0-5, for people

    @classmethod
    def from_csq(cls, rssi: int) -> Signal:
        if rssi == 99 or not 0 <= rssi <= 31:
            return cls(None, None, 0)
        dbm = -113 + 2 * rssi
        bars = sum(dbm >= threshold for threshold in (-109, -103, -93, -83, -73))
        return cls(rssi, dbm, bars)


@dataclass(frozen=True)
class Health:
    registration: str
    operator: str | None
    signal: Signal
    smsc: str | None
    storage_used: int | None = None
    storage_total: int | None = None

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")


def registration_of(line: str | None) -> str:
    """`+CREG: <n>,<stat>` (or an unsolicited `+CREG: <stat>`) as a word; "unknown" without one."""
    if not line:
        return "unknown"
    fields = parse_fields(payload_of(line))
    stat = fields[1] if len(fields) > 1 else fields[0]
    return REGISTRATION.get(int(stat), "unknown") if stat.isdigit() else "unknown"


def signal_of(line: str | None) -> Signal:
    """`+CSQ: <rssi>,<ber>`; no bars when the modem does not say."""
    fields = parse_fields(payload_of(line)) if line else []
    return Signal.from_csq(int(fields[0])) if fields and fields[0].isdigit() else Signal(None, None, 0)


def operator_field(line: str | None) -> str | None:
    """The operator's name as `+COPS: <mode>,<format>,<oper>` gives it (still in the modem's charset)."""
    fields = parse_fields(payload_of(line)) if line else []
    return fields[2] if len(fields) > 2 and fields[2] else None


def smsc_of(line: str | None) -> str | None:
    """`+CSCA: <number>,<type>`: the service centre's number."""
    fields = parse_fields(payload_of(line)) if line else []
    return decode_number(fields[0]) if fields and fields[0] else None


def normalise_iccid(value: str) -> str:
    """ICCIDs start 89; Huawei's ^ICCID prints the nibbles swapped (98...)."""
    digits = re.sub(r"[^0-9A-Fa-f]", "", value)
    if digits.startswith("98") and len(digits) % 2 == 0:
        digits = "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))
    return digits.rstrip("Ff")
