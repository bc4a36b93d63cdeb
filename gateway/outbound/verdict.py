"""What the send-time check says about a claimed message: send it, suppress it or defer it.

The worker obeys it; the rules that reach it (consent, quiet hours, frequency cap) live in
`gateway.consent`, so they depend on this answer and not on the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Verdict:
    """What the send-time check (consent, quiet hours, frequency cap) says about a claimed message."""

    action: str  # "send", "suppress" (never sent: opted out, capped) or "defer" (wait until `until`)
    reason: str = ""
    until: datetime | None = None

    @property
    def stops(self) -> bool:
        """Whether the message must not go now: suppressed, or deferred to a known time."""
        return self.action == "suppress" or (self.action == "defer" and self.until is not None)


SEND = Verdict("send")
