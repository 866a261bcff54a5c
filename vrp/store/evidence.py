"""The evidence's entry points: each page-sized result, computed in the database (counts
by GROUP BY, percentiles by row number, re-referrals by a join on the subject index)
and finished with the pure statistics of vrp/domain/evidence. Never every referral in
Python: what comes back is one row per group, stratum or rank. Results are not yet
protected: the caller applies disclosure control to their `count_tables()`."""

from __future__ import annotations

from datetime import date, datetime

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.results import InterventionEvaluation, NeedsAssessment
from vrp.store.unit import Unit


async def evaluation(
    unit: Unit,
    config: RoutingConfiguration,
    start: date | None = None,
    end: date | None = None,
    *,
    as_of: datetime | None = None,
    only: str | None = None,
) -> list[InterventionEvaluation]:
    """Every intervention's evaluation (or only the one named), in configuration order.

    With `start` and `end` (both days included) every intervention is evaluated over
    that period and compared with the same dates a year before. Without them a pilot
    (`pilot_start` in the configuration) is evaluated over its own dates (to `pilot_end`,
    or to `as_of`) and compared with the same length immediately before it; any other
    intervention over the 365 days to `as_of`. `as_of` (default now) is when re-referral
    follow-up ends: only people whose whole 6 or 12 months have passed by then count."""
    raise NotImplementedError


async def needs(
    unit: Unit, config: RoutingConfiguration, start: date, end: date
) -> NeedsAssessment:
    """The needs assessment from `start` to `end` (both days included): rates per 100,000
    by the partnership's areas, age band and sex per month and per year, deprivation
    deciles with the rate ratio and the slope index of inequality, and the trends against
    the same dates a year before."""
    raise NotImplementedError
