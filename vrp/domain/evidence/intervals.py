"""Confidence intervals at 95 %: Wilson's for a proportion and Byar's approximation to the
exact Poisson interval for a count (and so for a rate)."""

from __future__ import annotations

from math import sqrt

from vrp.domain.evidence.results import Interval

Z = 1.96
"""The standard normal quantile for a two-sided 95 % interval."""

PER = 100_000
"""Rates are per 100,000 residents."""


def wilson(proportion: float, n: float) -> Interval | None:
    """Wilson's score interval for a proportion observed over n (which may be an
    effective, non-whole size); None when n is not positive."""
    if n <= 0:
        return None
    p = min(1.0, max(0.0, proportion))
    z2 = Z * Z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = Z / denominator * sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Interval(max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def byar(count: int) -> Interval:
    """Byar's approximation to the exact 95 % Poisson interval for an observed count."""
    if count < 0:
        raise ValueError("a count cannot be negative")
    low = 0.0
    if count:
        low = count * max(0.0, 1 - 1 / (9 * count) - Z / (3 * sqrt(count))) ** 3
    above = count + 1
    high = above * (1 - 1 / (9 * above) + Z / (3 * sqrt(above))) ** 3
    return Interval(low, high)


def rate(count: int, population: int | None) -> tuple[float, Interval] | None:
    """The rate per 100,000 and its Byar interval; None without a positive population."""
    if population is None or population <= 0:
        return None
    bounds = byar(count)
    scale = PER / population
    return count * scale, Interval(bounds.low * scale, bounds.high * scale)
