"""Which SIM sends a message. Pure: views of the SIMs in, a decision out.

Every healthy SIM with limits left competes for the queue; a pinned message waits for its SIM; with
stickiness, a customer hears from the SIM they last heard from (so replies come back to it), unless
that SIM is down or cannot send for a while, in which case any SIM will do: failover beats stickiness.
SIMs are named by their identity (gateway.sims.identity.sim_key), so stickiness follows a SIM moved
to another modem.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemView:
    name: str  # the SIM's identity
    ready: bool
    next_slot: float  # when its limits next allow a part


def may_take(sim: str, last_sim: str | None, views: dict[str, ModemView], now: float,
             *, sticky: bool, sticky_wait: float = 60.0) -> bool:
    """May the modem holding `sim` take a message whose recipient last heard from `last_sim`?"""
    if not sticky or last_sim is None or last_sim == sim:
        return True
    other = views.get(last_sim)
    if other is None or not other.ready:
        return True
    return other.next_slot - now > sticky_wait
