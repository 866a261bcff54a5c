"""The export's aggregate files, from the evidence measures, with disclosure control applied:
every table of counts protected by the console's rule, and every figure derived from
counts (a rate, a proportion, an interval, a time, a change) left blank where a count it
rests on is suppressed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.evidence_export.dictionary_entries import (
    COUNTS,
    DEPRIVATION,
    EVALUATION,
    INEQUALITY,
    RATES,
    TRENDS,
)
from vrp.domain.disclosure_control import Protected, protect, shown_count
from vrp.domain.evidence.results import (
    DECILES,
    CountTable,
    Deprivation,
    Estimate,
    Group,
    Interval,
    InterventionEvaluation,
    NeedsAssessment,
    PeriodEvaluation,
    Rate,
    Spread,
)
from vrp.domain.evidence_dictionary import FileEntry

Value = str | int | float | None
Row = tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One aggregate file: its dictionary entry and its rows (already protected)."""

    entry: FileEntry
    rows: list[Row]


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def _bounds(interval: Interval | Estimate | None) -> tuple[float | None, float | None]:
    return (None, None) if interval is None else (_round(interval.low), _round(interval.high))


class _Counts:
    """Protects count tables and keeps their published cells, as long rows for `counts`."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.rows: list[Row] = []

    def protect(self, scope: str, table: CountTable) -> Protected:
        """Protect one table, record what it publishes, return the protected table."""
        p = protect(table.table(), self.threshold)
        for i, code in enumerate(table.rows):
            for j, column in enumerate(table.columns):
                self.rows.append((scope, table.key, table.title, code, column, p.cells[i][j]))
            if table.row_totals:
                self.rows.append((scope, table.key, table.title, code, "total", p.row_totals[i]))
        if table.column_totals:
            for j, column in enumerate(table.columns):
                self.rows.append(
                    (scope, table.key, table.title, "total", column, p.column_totals[j])
                )
            if table.row_totals:
                self.rows.append((scope, table.key, table.title, "total", "total", p.grand_total))
        return p


def _rate(rate: Rate, shown: int | None) -> Row:
    """Count, population, rate and interval; the rate blank when the count is."""
    if shown is None:
        return (None, rate.population, None, None, None)
    return (shown, rate.population, _round(rate.per_100k), *_bounds(rate.interval))


def _spread(name: str, spread: Spread, threshold: int) -> list[tuple[str, Value]]:
    n = shown_count(spread.n, threshold)
    median = spread.median_hours if n is not None else None
    p90 = spread.p90_hours if n is not None else None
    return [
        (f"{name}-offers-timed", n),
        (f"{name}-median-hours", _round(median, 1)),
        (f"{name}-p90-hours", _round(p90, 1)),
    ]


def _group(name: str, group: Group, shown: Sequence[int | None]) -> list[Row]:
    """A group's proportion and interval: blank unless both its cells are shown."""
    if any(v is None for v in shown):
        return [
            (f"{name}-proportion", None, None, None),
            (f"{name}-effective-size", None, None, None),
        ]
    return [
        (f"{name}-proportion", _round(group.proportion, 4), *_bounds(group.interval)),
        (f"{name}-effective-size", _round(group.effective_size, 1), None, None),
    ]


def _total(*parts: int | None) -> int | None:
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _evaluation(counts: _Counts, intervention: str, which: str, ev: PeriodEvaluation) -> list[Row]:
    scope = f"evaluation/{intervention}/{which}"
    protected = {t.key: counts.protect(scope, t) for t in ev.count_tables()}
    completed, in_contact, accepted_only, _, declined = protected["funnel"].cells[0]
    figures: list[tuple[str, Value]] = [
        ("offered", protected["funnel"].row_totals[0]),
        ("accepted", _total(completed, in_contact, accepted_only)),
        ("first-contact", _total(completed, in_contact)),
        ("completed", completed),
        ("declined", declined),
        *_spread("to-acceptance", ev.to_acceptance, counts.threshold),
        *_spread("to-first-contact", ev.to_contact, counts.threshold),
    ]
    measures: list[Row] = [(name, value, None, None) for name, value in figures]
    for r in ev.re_referral:
        cells = protected[f"re-referral-{r.months}m"].cells
        measures += _group(f"re-referral-{r.months}m-engaged", r.engaged, cells[0])
        measures += _group(f"re-referral-{r.months}m-comparison", r.comparison, cells[1])
        measures.append((f"re-referral-{r.months}m-strata", r.strata, None, None))
    head = (intervention, which, ev.period.start.isoformat(), ev.period.end.isoformat())
    return [(*head, *m) for m in measures]


def evaluation_files(results: Sequence[InterventionEvaluation], counts: _Counts) -> Aggregate:
    """The evaluation's figures, per intervention, for the period and the one compared."""
    rows: list[Row] = []
    for result in results:
        rows += _evaluation(counts, result.intervention, "current", result.current)
        rows += _evaluation(counts, result.intervention, result.previous_kind, result.previous)
    return Aggregate(EVALUATION, rows)


def _deprivation(counts: _Counts, which: str, dep: Deprivation) -> tuple[list[Row], list[Row]]:
    p = counts.protect(f"needs/{which}", dep.counts(f"{which}-deprivation"))
    shown = p.cells[0]
    rows: list[Row] = [
        (which, decile, *_rate(rate, shown[i]))
        for i, (decile, rate) in enumerate(zip(DECILES, dep.deciles, strict=True))
    ]
    rows.append((which, "unknown", shown[-1], None, None, None, None))
    rr = dep.rate_ratio if shown[0] is not None and shown[9] is not None else None
    sii = dep.sii if all(v is not None for v in shown[:10]) else None
    inequality: list[Row] = [
        (which, "rate-ratio", None if rr is None else _round(rr.value, 3), *_bounds(rr)),
        (which, "slope-index", None if sii is None else _round(sii.value), *_bounds(sii)),
    ]
    return rows, inequality


def needs_files(needs: NeedsAssessment, counts: _Counts) -> list[Aggregate]:
    """Rates by area, age band and sex per month and year; deprivation; trends."""
    rates: list[Row] = []
    for grain, tables in (("month", needs.by_month), ("year", needs.by_year)):
        for table in tables:
            p = counts.protect("needs", table.counts())
            for i, code in enumerate(table.rows):
                for j, column in enumerate(table.columns):
                    partial = "yes" if column in table.partial else "no"
                    rate = _rate(table.cells[i][j], p.cells[i][j])
                    rates.append((table.dimension, grain, code, column, partial, *rate))
    dep_rows, inequality = _deprivation(counts, "current", needs.deprivation)
    prev_rows, prev_inequality = _deprivation(counts, "year-before", needs.previous_deprivation)
    trends: list[Row] = []
    for trend in needs.trends:
        p = counts.protect("needs", trend.counts())
        for i, change in enumerate(trend.changes):
            now, before = p.cells[i]
            both = now is not None and before is not None
            trends.append(
                (
                    trend.dimension,
                    change.code,
                    now,
                    before,
                    change.change if both else None,
                    _round(change.percent, 1) if both else None,
                    _round(change.current.per_100k) if now is not None else None,
                    _round(change.previous.per_100k) if before is not None else None,
                    _round(change.rate_change) if both else None,
                )
            )
    return [
        Aggregate(RATES, rates),
        Aggregate(DEPRIVATION, dep_rows + prev_rows),
        Aggregate(INEQUALITY, inequality + prev_inequality),
        Aggregate(TRENDS, trends),
    ]


def aggregates(
    evaluations: Sequence[InterventionEvaluation], needs: NeedsAssessment, threshold: int
) -> list[Aggregate]:
    """Every aggregate file of the export, protected; the counts file last (it gathers
    every protected table the others rest on)."""
    counts = _Counts(threshold)
    out = [evaluation_files(evaluations, counts), *needs_files(needs, counts)]
    return [*out, Aggregate(COUNTS, counts.rows)]
