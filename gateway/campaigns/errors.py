"""What the campaigns refuse, with the field at fault when there is one."""

from __future__ import annotations


class CampaignError(ValueError):
    """A request the campaign cannot take (its state, its fields); `field` when one is at fault."""

    def __init__(self, reason: str, *, field: str | None = None, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.missing = missing  # no such campaign
