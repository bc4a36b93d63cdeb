"""How a failed attempt is tried again: doubling waits, capped, a limited number of times. A message's
send (the outbound worker) and a webhook's delivery (the outbox) back off by the same rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    first_delay: float = 5.0
    max_delay: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: first_delay, twice that … capped."""
        return min(self.max_delay, self.first_delay * 2 ** max(0, attempts - 1))
