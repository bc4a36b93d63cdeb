"""Which SIM a modem holds, and which limits that SIM sends under. Pure.

A carrier limits (and blocks) a SIM, not a modem: the send history, the limit windows and sticky
routing are keyed by the SIM's identity, so re-plugging a modem into another port, renaming it in
the config or moving the SIM to another modem keeps its counts and its customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.outbound.limits import Limits
from modem.session import Identity


def sim_key(iccid: str | None, imsi: str | None, modem: str) -> str:
    """The SIM's identity: its ICCID, else its IMSI (a modem that hides the ICCID), else only the
    modem's name (a SIM that shows neither is known by where it is)."""
    if iccid:
        return f"iccid:{iccid}"
    if imsi:
        return f"imsi:{imsi}"
    return f"modem:{modem}"


@dataclass(frozen=True)
class SimLimits:
    """A SIM's own limits (`[[sims]]`, by ICCID or IMSI) wherever it is; a SIM without an entry
    sends under the limits of the modem entry it is in."""

    by_iccid: Mapping[str, Limits] = field(default_factory=dict)
    by_imsi: Mapping[str, Limits] = field(default_factory=dict)

    def of(self, identity: Identity | None, modem_limits: Limits) -> Limits:
        """The limits of the SIM `identity` names, in a modem whose entry has `modem_limits`."""
        if identity is not None and identity.iccid and identity.iccid in self.by_iccid:
            return self.by_iccid[identity.iccid]
        if identity is not None and identity.imsi and identity.imsi in self.by_imsi:
            return self.by_imsi[identity.imsi]
        return modem_limits
