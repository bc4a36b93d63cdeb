"""Which variant a recipient gets (pure): at random but fixed per campaign and contact, so the dry
run and the send agree and a resumed campaign never changes its mind.

A plain campaign splits by weight. An A/B test (`sample` percent) draws its sample and splits it
evenly over the variants from the campaign's seed: the same seed, the same split, whoever runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

SCALE = 10_000  # sample points: a percent is 100 of them


def _point(key: str, modulus: int) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus


def variant_index(campaign_id: int, contact_id: int, weights: Sequence[int]) -> int:
    """The index into `weights` (each >= 1) for this contact."""
    if len(weights) == 1:
        return 0
    point = _point(f"{campaign_id}:{contact_id}", sum(weights))
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    return len(weights) - 1


@dataclass(frozen=True)
class Split:
    """How a campaign's recipients get their variant: by weight, or an A/B test's sample."""

    campaign_id: int
    weights: tuple[int, ...]
    seed: int = 0
    sample: int | None = None  # percent of the audience in an A/B test

    def assign(self, contact_id: int) -> tuple[int, bool | None]:
        """(variant index, in the sample: True/False for an A/B test, None otherwise). Outside the
        sample the index is provisional: the rest gets the winner."""
        if self.sample is None:
            return variant_index(self.campaign_id, contact_id, self.weights), None
        inside = _point(f"sample:{self.seed}:{contact_id}", SCALE) < self.sample * SCALE // 100
        return _point(f"variant:{self.seed}:{contact_id}", len(self.weights)), inside
