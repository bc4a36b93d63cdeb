"""Which variant a recipient gets (pure): by weight, at random but fixed per campaign and contact,
so the dry run and the send agree and a resumed campaign never changes its mind. The A/B sample
and the winner's send to the rest build on this."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def variant_index(campaign_id: int, contact_id: int, weights: Sequence[int]) -> int:
    """The index into `weights` (each >= 1) for this contact."""
    if len(weights) == 1:
        return 0
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    return len(weights) - 1
