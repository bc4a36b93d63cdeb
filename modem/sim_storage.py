"""SMS memories as the modem describes them, with no I/O.

`AT+CMGR`, `AT+CMGL` and `AT+CMGD` work on whichever memory `AT+CPMS` last made mem1, so reading the
slot a `+CDSI: "SR",3` names means selecting "SR" first. This module reads what `AT+CPMS=?`
offers, which memories the driver uses, what `+CMTI`/`+CDSI` name, which unsolicited lines say the
memory is full, and pairs each `+CMGL`/`+CMGR` header with its PDU even when some other line landed
between them (a URC the transport did not know): a wrong pairing would hand one SMS's slot the
contents of another and delete it unread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modem.lines import parse_fields, payload_of, pdu_line

PREFERRED = ("SM", "ME", "MT")  # where received SMS go: the SIM first (it travels with the number)
REPORTS = "SR"  # status-report memory of Huawei and others; reports stored there are announced in it

_LIST = re.compile(r"\(([^)]*)\)")
_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Storages:
    """The memories the driver uses: `primary` for received SMS (mem1 = mem2 = mem3), and those a
    sweep lists (the primary, then "SR" where the modem offers it)."""

    primary: str
    swept: tuple[str, ...]

    def select_command(self) -> str:
        return f'AT+CPMS="{self.primary}","{self.primary}","{self.primary}"'


DEFAULT = Storages("SM", ("SM",))


def parse_cpms_test(line: str | None) -> list[tuple[str, ...]]:
    """`+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")` -> one tuple of names per parameter (some
    modems leave out the parentheses when they offer one memory: `+CPMS: "SM","SM","SM"`)."""
    if not line:
        return []
    payload = payload_of(line)
    groups = _LIST.findall(payload) if "(" in payload else _QUOTED.findall(payload)
    return [tuple(name.strip().strip('"').upper() for name in group.split(",") if name.strip())
            for group in groups]


def choose(offered: list[tuple[str, ...]]) -> Storages:
    """The primary is a memory every parameter accepts (the SIM where it can be); "SR" is swept
    too when mem1 may be it. A modem that says nothing usable gets the default."""
    if not offered:
        return DEFAULT
    usable = [name for name in offered[0] if all(name in group for group in offered)]
    primary = next((name for name in PREFERRED if name in usable), usable[0] if usable else "SM")
    swept = (primary, REPORTS) if REPORTS in offered[0] and primary != REPORTS else (primary,)
    return Storages(primary, swept)


@dataclass(frozen=True)
class Usage:
    name: str | None
    used: int
    total: int


def parse_cpms_read(line: str | None) -> list[Usage]:
    """`+CPMS: "SR",1,30,"SM",0,30,"SM",0,30` (or without names, as after AT+CPMS=...) -> one
    Usage per memory, in mem1, mem2, mem3 order."""
    if not line:
        return []
    fields = parse_fields(payload_of(line))
    named = bool(fields) and not fields[0].isdigit()
    step = 3 if named else 2
    usages = []
    for start in range(0, len(fields) - step + 1, step):
        group = fields[start:start + step]
        counts = group[1:] if named else group
        if all(c.isdigit() for c in counts):
            usages.append(Usage(group[0].upper() if named else None, int(counts[0]), int(counts[1])))
    return usages


def receiving(usages: list[Usage]) -> Usage | None:
    """The memory new SMS are stored in (mem3), whatever mem1 a read left selected."""
    return usages[2] if len(usages) >= 3 else (usages[0] if usages else None)


def parse_stored_urc(line: str) -> tuple[str | None, int] | None:
    """`+CMTI: "SR",3` -> ("SR", 3); `+CMTI: 3` -> (None, 3); None if there is no index."""
    fields = parse_fields(payload_of(line))
    index = fields[-1] if fields else ""
    if not index.isdigit():
        return None
    name = fields[0].upper() if len(fields) >= 2 and fields[0] else None
    return name, int(index)


def is_full_signal(line: str) -> bool:
    """A vendor's "SMS memory full" URC: SIM800 `+CIEV: "SMSFULL",1`, Quectel `+QIND: "smsfull"`,
    Huawei `^SMMEMFULL`."""
    name, _, rest = line.partition(":")
    fields = parse_fields(rest)
    head = fields[0].upper() if fields else ""
    if name == "+CIEV":
        return head == "SMSFULL" and (len(fields) < 2 or fields[1] != "0")
    if name == "+QIND":
        return head == "SMSFULL"
    return name.strip() == "^SMMEMFULL"


@dataclass(frozen=True)
class Entry:
    """One stored SMS or status report: its slot in the memory it was read from, and its PDU."""

    storage: str | None
    index: int | None
    raw: str


def pair_listing(lines: list[str], header: str, storage: str | None, index: int | None = None) -> list[Entry]:
    """`+CMGL: <index>,<stat>,[<alpha>],<length>` / `+CMGR: <stat>,[<alpha>],<length>` headers, each
    with the first hex line after it whose TPDU length is the header's <length>; lines in between
    (URCs the transport did not recognise) are skipped, and a header without such a PDU before the
    next header is left out, so nothing is handled (or deleted) on a guess."""
    entries: list[Entry] = []
    current: tuple[int | None, int | None] | None = None  # (index, declared length)
    for line in lines:
        if line.startswith(header):
            fields = parse_fields(payload_of(line))
            slot = (int(fields[0]) if fields and fields[0].isdigit() else None) if index is None else index
            length = fields[-1] if fields else ""
            current = (slot, int(length) if length.isdigit() else None)
            if current[1] == 0:
                current = None  # an empty slot (Huawei: `+CMGR: 0,,0`)
            continue
        raw = pdu_line(line)  # the hex, also where a phone ends it with `,0`
        if current is None or raw is None or len(raw) % 2:
            continue
        slot, length = current
        if length is not None and tpdu_length(raw) != length:
            continue
        entries.append(Entry(storage, slot, raw.upper()))
        current = None
    return entries


def tpdu_length(raw: str) -> int | None:
    """Octets after the SMSC field (what <length> counts), None if the SMSC length is nonsense."""
    try:
        smsc = int(raw[:2], 16)
    except ValueError:
        return None
    length = len(raw) // 2 - 1 - smsc
    return length if length >= 0 else None
