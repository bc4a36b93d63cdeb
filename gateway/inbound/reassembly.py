"""Multipart reassembly (pure): parts in any order, duplicates ignored, a deadline for missing ones.

The same stored part given twice is held once. Parts are grouped by (modem, sender, concatenation reference, total): the reference alone is only
8 or 16 bits and every phone picks its own. A group whose parts stop coming is given up after
`timeout` seconds and handed out with what arrived, so nothing received is ever held back for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from modem.pdu import Concat

GroupKey = tuple[str, str, int, int]  # modem, sender, reference, total
Source = tuple[str, str]  # modem, sender
MISSING = "[…]"  # stands where a part never arrived


@dataclass(frozen=True)
class Piece(Concat):
    """One received part: where it stands in its long SMS (its concatenation header), its stored row and text."""

    part_id: int
    text: str


@dataclass(frozen=True)
class Assembled:
    key: GroupKey
    pieces: tuple[Piece, ...]  # in order, each seq once
    complete: bool
    duplicates: tuple[int, ...] = ()  # part ids of repeats (the network resends), kept for the record

    @property
    def total(self) -> int:
        return self.key[3]

    @property
    def text(self) -> str:
        """The joined text; a marker where parts are missing (after the timeout)."""
        by_seq = {p.seq: p.text for p in self.pieces}
        return "".join(by_seq.get(seq, MISSING) for seq in range(1, self.total + 1))

    @property
    def part_ids(self) -> tuple[int, ...]:
        return tuple(p.part_id for p in self.pieces) + self.duplicates


@dataclass
class _Group:
    deadline: float
    pieces: dict[int, Piece] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)


class Reassembler:
    """Not thread-safe on purpose: the pipeline owns it under its lock."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._groups: dict[GroupKey, _Group] = {}

    def add(self, source: Source, piece: Piece, now: float) -> Assembled | None:
        """Take one part from `source`; the whole message when this was the last missing part. The
        deadline counts from the first part that arrived."""
        key, total = (*source, piece.reference, piece.total), piece.total
        if not 1 <= piece.seq <= total:
            # a part that can't belong (seq 0 or past the total): deliver it alone rather than lose it
            return Assembled(key, (replace(piece, seq=1),), complete=False)
        group = self._groups.setdefault(key, _Group(deadline=now + self.timeout))
        if piece.part_id in group.duplicates or group.pieces.get(piece.seq) == piece:
            return None  # the same stored part again (taken again after a failure): already here
        if piece.seq in group.pieces:
            group.duplicates.append(piece.part_id)
            return None
        group.pieces[piece.seq] = piece
        if len(group.pieces) < total:
            return None
        del self._groups[key]
        return Assembled(key, tuple(group.pieces[s] for s in sorted(group.pieces)), True, tuple(group.duplicates))

    def expired(self, now: float) -> list[Assembled]:
        """Groups past their deadline, handed out incomplete (and forgotten)."""
        due = [key for key, group in self._groups.items() if group.deadline <= now]
        out = []
        for key in due:
            group = self._groups.pop(key)
            out.append(Assembled(key, tuple(group.pieces[s] for s in sorted(group.pieces)), False,
                                 tuple(group.duplicates)))
        return out

    def next_deadline(self) -> float | None:
        return min((g.deadline for g in self._groups.values()), default=None)

    def __len__(self) -> int:
        return len(self._groups)
