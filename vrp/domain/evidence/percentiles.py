"""Percentiles by nearest rank: the value at rank ceil(p/100 * n), 1-based, over the
values sorted ascending (never an interpolated value nobody had)."""

from __future__ import annotations

from collections.abc import Iterable


def nearest_rank(percent: int, n: int) -> int:
    """The 1-based rank of the `percent`th percentile of n values (0 when n is 0)."""
    if not 0 < percent <= 100:
        raise ValueError("a percentile is from 1 to 100")
    if n <= 0:
        return 0
    return max(1, -(-percent * n // 100))


def percentile(values: Iterable[float], percent: int) -> float | None:
    """The `percent`th percentile of the values by nearest rank; None when there are none."""
    ordered = sorted(values)
    rank = nearest_rank(percent, len(ordered))
    return ordered[rank - 1] if rank else None
