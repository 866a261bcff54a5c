"""The re-referral comparison: strata present in both groups only, the comparison group
weighted to the engaged group's mix of strata, and proportions with Wilson intervals (the
weighted one on Kish's effective sample size)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vrp.domain.evidence.intervals import wilson
from vrp.domain.evidence.results import Group

Stratum = tuple[str, str, str]
"""(age band, primary reason, local authority)."""


@dataclass(frozen=True, slots=True)
class StratumCounts:
    """People in one stratum whose window has elapsed, and how many were referred again."""

    engaged: int = 0
    engaged_re_referred: int = 0
    comparison: int = 0
    comparison_re_referred: int = 0


@dataclass(frozen=True, slots=True)
class Matched:
    """Both groups after matching, with the strata used and the people dropped."""

    engaged: Group
    comparison: Group
    strata: int
    engaged_unmatched: int
    comparison_unmatched: int


def weight(engaged: int, comparison: int) -> float:
    """Each comparison person's weight in a stratum: n_engaged / n_comparison."""
    return engaged / comparison


def kish(weights: Mapping[float, int]) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, over weights and how many people
    carry each; 0 when there is no weight."""
    total = sum(w * n for w, n in weights.items())
    squares = sum(w * w * n for w, n in weights.items())
    return total * total / squares if squares else 0.0


def match(strata: Mapping[Stratum, StratumCounts]) -> Matched:
    """The engaged and the weighted comparison group over the strata both groups have."""
    used = {s: c for s, c in strata.items() if c.engaged and c.comparison}
    engaged = sum(c.engaged for c in used.values())
    engaged_again = sum(c.engaged_re_referred for c in used.values())
    people = sum(c.comparison for c in used.values())
    again = sum(c.comparison_re_referred for c in used.values())
    # Sum of weights = engaged; weighted re-referred = sum of w * re-referred per stratum.
    weighted_again = sum(
        weight(c.engaged, c.comparison) * c.comparison_re_referred for c in used.values()
    )
    weights: dict[float, int] = {}
    for c in used.values():
        w = weight(c.engaged, c.comparison)
        weights[w] = weights.get(w, 0) + c.comparison
    effective = kish(weights)
    share = engaged_again / engaged if engaged else None
    weighted = weighted_again / engaged if engaged else None
    return Matched(
        engaged=Group(
            engaged,
            engaged_again,
            share,
            wilson(share, engaged) if share is not None else None,
            float(engaged),
        ),
        comparison=Group(
            people,
            again,
            weighted,
            wilson(weighted, effective) if weighted is not None else None,
            effective,
        ),
        strata=len(used),
        engaged_unmatched=sum(c.engaged for s, c in strata.items() if s not in used),
        comparison_unmatched=sum(c.comparison for s, c in strata.items() if s not in used),
    )
