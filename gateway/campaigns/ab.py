"""The A/B test's decision (pure): which variant the rest of the audience gets, from the sample's
results by the campaign's measure, with ties broken the same way every time and said in words.

Rates, not counts, so a variant that happened to draw a larger part of the sample has no edge:
replies or deliveries per message sent, or opt-outs per message sent (the fewest wins). Clicks are
not a measure: the gateway tracks no links.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

MEASURES = ("replies", "delivered", "fewest_opt_outs")
_COUNTED = {"replies": "replies", "delivered": "delivered", "fewest_opt_outs": "opt_outs"}


@dataclass(frozen=True)
class Score:
    """One variant's sample: messages sent and what the measure counts of them."""

    seq: int
    sent: int
    counted: int


def label(seq: int) -> str:
    return chr(ord("A") + seq) if seq < 26 else str(seq + 1)


def counted_figure(measure: str) -> str:
    """The results figure a measure counts."""
    return _COUNTED[measure]


def pick(scores: Sequence[Score], measure: str) -> tuple[int, str]:
    """(the winner's seq, why in words). The best rate wins; a variant that sent nothing cannot
    win while another sent; among equals the earliest variant (A before B) wins, and it says so."""
    fewest = measure == "fewest_opt_outs"
    what = _COUNTED[measure].replace("_", "-")

    def rank(score: Score) -> tuple[int, Fraction]:
        rate = Fraction(score.counted, score.sent) if score.sent else Fraction(0)
        return (1 if score.sent else 0, -rate if fewest else rate)

    ordered = sorted(scores, key=lambda s: (rank(s), -s.seq), reverse=True)
    best = ordered[0]
    tied = [s for s in ordered if rank(s) == rank(best)]
    said = ", ".join(f"{label(s.seq)} {s.counted} {what} of {s.sent} sent" for s in sorted(scores, key=lambda s: s.seq))
    why = f"by {measure.replace('_', ' ')}: {said}"
    if len(tied) > 1:
        why += f"; a tie between {' and '.join(label(s.seq) for s in sorted(tied, key=lambda s: s.seq))}, " \
               f"broken by order: {label(best.seq)}, the earliest, wins"
    return best.seq, why
