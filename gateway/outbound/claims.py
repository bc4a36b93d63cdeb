"""What a worker holds of the queue: a due candidate, a claimed message, a part the network accepted.

Plain values (no live ORM objects across threads), shared by the queue, its transactions and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.outbound.models import Priority


class Candidate(Protocol):
    """What routing sees of a due message when a worker looks for one to claim."""

    id: int
    to_number: str
    last_sim: str | None  # the SIM (gateway.sims.identity.sim_key) that last sent to this number, for stickiness
    sending_on: str | None  # the modem sending an earlier message to this number now (that one goes first)


@dataclass(frozen=True)
class Claimed:
    """A message a worker took, with what it needs to send it (no live ORM objects across threads)."""

    id: int
    to_number: str
    text: str
    kind: str
    concat_ref: int | None
    attempts: int
    pending_seqs: tuple[int, ...]
    part_ids: dict[int, int]  # seq -> part row id
    expires_at: datetime | None = None
    priority: int = Priority.NORMAL
    source: str = ""  # who queued it (the send-time check treats answers to texts apart)
    expires_at_monotonic: float | None = None  # expires_at on the monotonic clock: a wall-clock step can't move it


@dataclass(frozen=True)
class Accepted:
    """A part the network accepted: its row, the modem's reference, and whether it was the
    message's last part to go (then the message is `sent` in the same commit)."""

    part_id: int
    reference: int | None
    last: bool
    message_id: int = 0
