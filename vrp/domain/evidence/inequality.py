"""Inequality between deprivation deciles: the rate ratio of the most to the least deprived
(log-method interval) and the slope index of inequality (weighted least squares of the
decile rates on the midpoint of each decile's cumulative population share)."""

from __future__ import annotations

from collections.abc import Sequence
from math import exp, log, sqrt

from vrp.domain.evidence.intervals import PER, Z
from vrp.domain.evidence.results import Estimate


def rate_ratio(a: int, population_a: int, b: int, population_b: int) -> Estimate | None:
    """(a / population_a) / (b / population_b) with its 95 % interval by the log method;
    None when either count or population is 0 (no finite ratio or interval)."""
    if min(a, b, population_a, population_b) <= 0:
        return None
    ratio = (a / population_a) / (b / population_b)
    spread = Z * sqrt(1 / a + 1 / b)
    return Estimate(ratio, exp(log(ratio) - spread), exp(log(ratio) + spread))


def slope_index(groups: Sequence[tuple[int, int]]) -> Estimate | None:
    """The slope index of inequality over (count, population) groups ordered from the least
    to the most deprived: the fitted rate per 100,000 at the most deprived end (x = 1)
    minus at the least (x = 0), with a 95 % interval from the rates' Poisson variances.
    Groups with no population are left out; None with fewer than two left."""
    kept = [(c, p) for c, p in groups if p > 0]
    if len(kept) < 2:
        return None
    total = sum(p for _, p in kept)
    shares = [p / total for _, p in kept]
    xs: list[float] = []
    before = 0.0
    for share in shares:
        xs.append(before + share / 2)
        before += share
    rates = [c / p * PER for c, p in kept]
    mean_x = sum(w * x for w, x in zip(shares, xs, strict=True))  # the weights sum to 1
    spread = sum(w * (x - mean_x) ** 2 for w, x in zip(shares, xs, strict=True))
    # The slope is sum(k_i * rate_i): fixed coefficients, so its variance is
    # sum(k_i^2 * var(rate_i)), with var(rate_i) = count_i / population_i^2 (x 100,000^2).
    k = [w * (x - mean_x) / spread for w, x in zip(shares, xs, strict=True)]
    slope = sum(ki * r for ki, r in zip(k, rates, strict=True))
    variance = sum(ki * ki * c / (p * p) * PER * PER for ki, (c, p) in zip(k, kept, strict=True))
    half = Z * sqrt(variance)
    return Estimate(slope, slope - half, slope + half)
