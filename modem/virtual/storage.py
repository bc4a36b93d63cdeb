"""SMS memories of the virtual SIM/ME ("SM", "ME"): numbered slots, like the real ones.

Indices start at 1 (SIM800, EC25) or 0 (Huawei) depending on the profile; deleted slots are reused
lowest-first, which is what lets a driver that deletes by index race a new +CMTI in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3
STAT_TEXT = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT"}


@dataclass
class Stored:
    stat: int
    pdu: str  # hex with SMSC field


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC field: the <length> that +CMGL/+CMGR/+CMT/+CDS report."""
    smsc_len = int(pdu_hex[:2], 16)
    return len(pdu_hex) // 2 - 1 - smsc_len


class Storage:
    def __init__(self, name: str, capacity: int, first_index: int = 1) -> None:
        self.name = name
        self.capacity = capacity
        self.first_index = first_index
        self.slots: dict[int, Stored] = {}
        self.forced_full = False

    @property
    def used(self) -> int:
        return len(self.slots)

    @property
    def full(self) -> bool:
        return self.forced_full or self.used >= self.capacity

    def add(self, stat: int, pdu: str) -> int | None:
        """Index of the new message, or None when the memory is full."""
        if self.full:
            return None
        index = self.first_index
        while index in self.slots:
            index += 1
        self.slots[index] = Stored(stat, pdu)
        return index

    def get(self, index: int) -> Stored | None:
        return self.slots.get(index)

    def delete(self, index: int) -> None:
        self.slots.pop(index, None)

    def valid_index(self, index: int) -> bool:
        return self.first_index <= index < self.first_index + self.capacity

    def items(self) -> list[tuple[int, Stored]]:
        return sorted(self.slots.items())
