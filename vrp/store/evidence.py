"""The evidence's entry points: each page-sized result, computed in the database (counts
by GROUP BY, percentiles by row number, re-referrals by a join on the subject index)
and finished with the pure statistics of vrp/domain/evidence. Never every referral in
Python: what comes back is one row per group, stratum or rank. Results are not yet
protected: the caller applies disclosure control to their `count_tables()`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.bands import AGE_BANDS, SEXES, SEXES_WITH_RATES, UNKNOWN
from vrp.domain.evidence.inequality import rate_ratio, slope_index
from vrp.domain.evidence.intervals import rate
from vrp.domain.evidence.matching import Stratum, match
from vrp.domain.evidence.periods import Period, partnership_areas, pilot_period
from vrp.domain.evidence.results import (
    DECILES,
    Change,
    Cohort,
    Deprivation,
    Funnel,
    InterventionEvaluation,
    NeedsAssessment,
    PeriodEvaluation,
    Rate,
    RateTable,
    ReReferral,
    Spread,
    Trend,
)
from vrp.store import evidence_offers as offers
from vrp.store import evidence_rates as rates
from vrp.store.evidence_offers import StratumRow
from vrp.store.unit import Unit

WORK_MEM = "64MB"
"""Sort memory while the measures run: their sorts of a year's offers spill to disk at
PostgreSQL's default 4 MB (at a million referrals, re-referrals 6.8 s -> 5.3 s)."""
OTHER = "other"
"""The area row for referrals from outside the partnership's areas, or with no area."""
_NO_TIMES = Spread(0, None, None)


@asynccontextmanager
async def roomy(unit: Unit) -> AsyncIterator[None]:
    """More sort memory for this connection while the measures run (PostgreSQL)."""
    if unit.db.is_sqlite:
        yield
        return
    await unit.conn.exec_driver_sql(f"SET work_mem = '{WORK_MEM}'")
    try:
        yield
    finally:
        await unit.conn.exec_driver_sql("RESET work_mem")


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
    if (start is None) != (end is None):
        raise ValueError("give both the start and the end of the period, or neither")
    now = as_of or datetime.now(UTC)
    today = now.date()
    plans: list[tuple[str, Period | None, Period, Period, Literal["before-pilot", "year-before"]]]
    plans = []
    for i in config.interventions:
        if only not in (None, i.id):
            continue
        pilot = pilot_period(i, today)
        if start is not None and end is not None:
            current = Period(start, end)
            plans.append((i.id, pilot, current, current.year_before(), "year-before"))
        elif pilot is not None:
            plans.append((i.id, pilot, pilot, pilot.before(), "before-pilot"))
        else:
            current = Period(today - timedelta(days=364), today)
            plans.append((i.id, None, current, current.year_before(), "year-before"))
    done: dict[Period, dict[str, PeriodEvaluation]] = {}
    for _, _, current, previous, _ in plans:
        for period in (current, previous):
            if period not in done:
                done[period] = await _evaluate(unit, period, now)
    return [
        InterventionEvaluation(
            intervention,
            pilot,
            done[current].get(intervention) or _empty(current),
            done[previous].get(intervention) or _empty(previous),
            kind,
        )
        for intervention, pilot, current, previous, kind in plans
    ]


async def _evaluate(unit: Unit, period: Period, as_of: datetime) -> dict[str, PeriodEvaluation]:
    """Every intervention's figures over one period, a handful of queries for them all."""
    start, end = period.bounds()
    counted = await offers.offer_counts(unit, start, end)
    acceptance = await offers.spreads(unit, start, end, "accepted")
    contact = await offers.spreads(unit, start, end, "first-contact")
    again = await offers.re_referrals(unit, start, end, as_of)
    out: dict[str, PeriodEvaluation] = {}
    for i in counted.keys() | again.keys():
        c = counted.get(i) or offers.OfferCounts()
        s = c.stages
        out[i] = PeriodEvaluation(
            period,
            Funnel(
                s.get("completed", 0),
                s.get("in-contact", 0),
                s.get("accepted", 0),
                s.get("no-response", 0),
                s.get("declined", 0),
            ),
            c.declines,
            c.outcomes,
            acceptance.get(i, _NO_TIMES),
            contact.get(i, _NO_TIMES),
            _re_referral(again.get(i, {})),
        )
    return out


def _re_referral(
    rows: dict[str, dict[Stratum, StratumRow]],
) -> tuple[ReReferral, ...]:
    """The comparison for each window from one intervention's strata."""
    out: list[ReReferral] = []
    for w, days in enumerate(offers.WINDOWS):
        m = match(offers.strata_counts(rows, w))
        out.append(
            ReReferral(
                months=6 if days == 183 else 12,
                days=days,
                engaged=m.engaged,
                comparison=m.comparison,
                strata=m.strata,
                engaged_cohort=Cohort(
                    m.engaged.people,
                    m.engaged_unmatched,
                    offers.too_recent(rows.get("engaged", {}), w),
                ),
                comparison_cohort=Cohort(
                    m.comparison.people,
                    m.comparison_unmatched,
                    offers.too_recent(rows.get("comparison", {}), w),
                ),
            )
        )
    return tuple(out)


def _empty(period: Period) -> PeriodEvaluation:
    """An intervention with no offers in the period."""
    return PeriodEvaluation(
        period, Funnel(0, 0, 0, 0, 0), {}, {}, _NO_TIMES, _NO_TIMES, _re_referral({})
    )


# -- needs assessment -------------------------------------------------------------------


async def needs(
    unit: Unit, config: RoutingConfiguration, start: date, end: date
) -> NeedsAssessment:
    """The needs assessment from `start` to `end` (both days included): rates per 100,000
    by the partnership's areas, age band and sex per month and per year, deprivation
    deciles with the rate ratio and the slope index of inequality, and the trends against
    the same dates a year before. The partnership's areas are those its configuration
    names (interventions' eligibility, rules); if it names none, those referred from."""
    period = Period(start, end)
    previous = period.year_before()
    areas = partnership_areas(config) or await rates.areas_referred(unit, *period.bounds())
    people = await rates.population(unit, areas)
    decile_people = await rates.decile_populations(unit, areas)
    now = await rates.cells(unit, *period.bounds())
    then = await rates.cells(unit, *previous.bounds())
    monthly = _tables(period, now, areas, people)
    yearly = tuple(_yearly(period, t) for t in monthly)
    deprivation = await _deprivation(unit, period, areas, decile_people)
    earlier = await _deprivation(unit, previous, areas, decile_people)
    trends = (
        _trend(
            "all",
            "All referrals from the partnership's areas",
            now,
            then,
            areas,
            people,
            (period, previous),
        ),
        *(
            _trend(key, title, now, then, areas, people, (period, previous))
            for key, title in (("area", "By area"), ("age-band", "By age band"), ("sex", "By sex"))
        ),
        Trend(
            "trend-decile",
            "By deprivation decile",
            "decile",
            (
                *(
                    Change(d, a, b)
                    for d, a, b in zip(DECILES, deprivation.deciles, earlier.deciles, strict=True)
                ),
                Change(UNKNOWN, _bare(deprivation.unknown), _bare(earlier.unknown)),
            ),
        ),
    )
    return NeedsAssessment(period, previous, areas, monthly, yearly, deprivation, earlier, trends)


_DIMENSIONS: tuple[tuple[Literal["area", "age-band", "sex"], str], ...] = (
    ("area", "Referrals by area"),
    ("age-band", "Referrals by age band (residents of the partnership's areas)"),
    ("sex", "Referrals by sex (residents of the partnership's areas)"),
)


def _rows(dimension: str, areas: Sequence[str]) -> tuple[str, ...]:
    if dimension == "all":
        return ("all",)
    if dimension == "area":
        return (*areas, OTHER)
    if dimension == "age-band":
        return (*AGE_BANDS, UNKNOWN)
    return (*SEXES, UNKNOWN)


def _code(cell: rates.Cell, dimension: str, areas: Sequence[str]) -> str | None:
    """The row a cell counts in (None: not counted in this dimension)."""
    inside = cell.area in areas
    if dimension == "area":
        return cell.area if inside and cell.area else OTHER
    if not inside:
        return None
    if dimension == "all":
        return "all"
    if dimension == "age-band":
        return cell.band
    return cell.sex if cell.sex in SEXES else UNKNOWN


def _population(
    dimension: str, code: str, year: int, areas: Sequence[str], people: rates.Populations
) -> int | None:
    """The denominator of one row in one year (None where there is none)."""
    if dimension == "area":
        return people.total(year, [code]) if code in areas else None
    if dimension == "age-band":
        return people.total(year, areas, band=code) if code in AGE_BANDS else None
    if dimension == "sex":
        return people.total(year, areas, sex=code) if code in SEXES_WITH_RATES else None
    return people.total(year, areas)


def _rate(count: int, population: int | None) -> Rate:
    found = rate(count, population)
    if found is None:
        return Rate(count, population if population else None, None, None)
    return Rate(count, population, found[0], found[1])


def _bare(count: int) -> Rate:
    return Rate(count, None, None, None)


def _counts(
    cells: Sequence[rates.Cell], dimension: str, areas: Sequence[str]
) -> dict[tuple[str, str], int]:
    """Counts by (row code, month)."""
    out: dict[tuple[str, str], int] = {}
    for c in cells:
        code = _code(c, dimension, areas)
        if code is not None:
            out[(code, c.month)] = out.get((code, c.month), 0) + c.count
    return out


def _tables(
    period: Period, cells: Sequence[rates.Cell], areas: Sequence[str], people: rates.Populations
) -> tuple[RateTable, ...]:
    """The monthly rate tables, one per dimension."""
    months = period.months()
    out: list[RateTable] = []
    for dimension, title in _DIMENSIONS:
        counts = _counts(cells, dimension, areas)
        rows = _rows(dimension, areas)
        out.append(
            RateTable(
                f"{dimension}-month",
                f"{title}, per month",
                dimension,
                rows,
                months,
                tuple(
                    tuple(
                        _rate(
                            counts.get((r, m), 0),
                            _population(dimension, r, int(m[:4]), areas, people),
                        )
                        for m in months
                    )
                    for r in rows
                ),
                frozenset(m for m in months if not period.covers_month(m)),
            )
        )
    return tuple(out)


def _yearly(period: Period, monthly: RateTable) -> RateTable:
    """A monthly table summed by calendar year, each year's population over the year's count."""
    years = tuple(str(y) for y in period.years())
    cells = []
    for row in monthly.cells:
        line = []
        for y in years:
            ms = [(m, c) for m, c in zip(monthly.columns, row, strict=True) if m.startswith(y)]
            count = sum(c.count for _, c in ms)
            # Every month of a year has the same denominator: that year's population.
            line.append(_rate(count, ms[0][1].population if ms else None))
        cells.append(tuple(line))
    return RateTable(
        monthly.key.replace("-month", "-year"),
        monthly.title.replace("per month", "per year"),
        monthly.dimension,
        monthly.rows,
        years,
        tuple(cells),
        frozenset(y for y in years if not period.covers_year(int(y))),
    )


def _trend(
    dimension: str,
    title: str,
    now: Sequence[rates.Cell],
    then: Sequence[rates.Cell],
    areas: Sequence[str],
    people: rates.Populations,
    periods: tuple[Period, Period],
) -> Trend:
    """A dimension's period totals against a year before, with rates over each period."""
    rows = _rows(dimension, areas)
    totals = []
    for cells in (now, then):
        found: dict[str, int] = {}
        for c in cells:
            code = _code(c, dimension, areas)
            if code is not None:
                found[code] = found.get(code, 0) + c.count
        totals.append(found)
    changes = tuple(
        Change(
            r,
            _rate(
                totals[0].get(r, 0), _population(dimension, r, periods[0].end.year, areas, people)
            ),
            _rate(
                totals[1].get(r, 0), _population(dimension, r, periods[1].end.year, areas, people)
            ),
        )
        for r in rows
    )
    return Trend(f"trend-{dimension}", title, dimension, changes)


async def _deprivation(
    unit: Unit, period: Period, areas: Sequence[str], populations: dict[int, int]
) -> Deprivation:
    """Rates by decile over the period, the rate ratio (1 to 10) and the slope index."""
    counts, total = await rates.deciles(unit, *period.bounds(), areas)
    rows = tuple(_rate(counts.get(d, 0), populations.get(d)) for d in range(1, 11))
    ratio = rate_ratio(
        counts.get(1, 0), populations.get(1, 0), counts.get(10, 0), populations.get(10, 0)
    )
    # Least deprived first: the slope runs towards the most deprived.
    sii = slope_index([(counts.get(d, 0), populations.get(d, 0)) for d in range(10, 0, -1)])
    return Deprivation(period, rows, total - sum(counts.values()), ratio, sii)
