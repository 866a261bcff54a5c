"""The needs assessment's tables, protected: each dimension's referrals by month are one
table (with its row and column totals); the period's, the years' and the trend's counts are
worked out from it only where what is shown gives them away; the year before and the
deprivation deciles are one-way tables with their totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from vrp.domain.disclosure_control import Protected, protect, protect_counts
from vrp.domain.evidence.results import (
    DECILES,
    Change,
    Deprivation,
    Estimate,
    Interval,
    NeedsAssessment,
    Rate,
    RateTable,
    Trend,
)
from vrp.domain.geography import AREAS
from vrp.domain.vocabulary import SEXES
from vrp.publication.cells import (
    Bounds,
    Column,
    EvidenceTable,
    Kind,
    Row,
    Value,
    change,
    derived,
)

DIMENSIONS = {"area": "local authority", "age-band": "age band", "sex": "sex"}


def label(dimension: str, code: str) -> str:
    """A category's name as a person reads it."""
    if code in ("unknown", "other", ""):
        return {"area": "Elsewhere or not known", "sex": "Not recorded"}.get(dimension, "Not known")
    if dimension == "area":
        return AREAS.get(code, code)
    if dimension == "sex":
        # The vocabulary's label without its explanation in brackets: a table's row name.
        return SEXES[code].split(" (")[0] if code in SEXES else code
    if dimension == "decile":
        return {"1": "1 (most deprived)", "10": "10 (least deprived)"}.get(code, code)
    return code


def month_label(code: str) -> str:
    """`2026-07` as `Jul 2026`."""
    y, m = code.split("-")
    return f"{date(int(y), int(m), 1):%b %Y}"


def _bounds(i: Interval | None) -> Bounds | None:
    return Bounds(i.low, i.high) if i else None


def _rate(count: int | None, r: Rate | None) -> tuple[Value, Value]:
    """A rate and its interval, only beside a shown count."""
    if count is None or r is None or r.per_100k is None:
        return None, None
    return r.per_100k, _bounds(r.interval)


def _changes(trends: Sequence[Trend], dimension: str) -> dict[str, Change]:
    found = next((t for t in trends if t.dimension == dimension), None)
    return {c.code: c for c in found.changes} if found else {}


class Dimension:
    """One dimension's referrals by month, protected once, and what is read from it."""

    def __init__(self, table: RateTable, trends: Sequence[Trend], threshold: int) -> None:
        self.rates = table
        self.dimension = table.dimension
        self.protected: Protected = protect(table.counts().table(), threshold)
        self.changes = _changes(trends, table.dimension)
        everyone = list(_changes(trends, "all").values())
        self.everyone = everyone[0] if everyone else None
        before = {c: self.changes[c].previous.count if c in self.changes else 0 for c in table.rows}
        self.before, self.before_total = protect_counts(before, threshold)

    def period_table(self, period_label: str) -> EvidenceTable:
        """Referrals, population and rate over the period by category, and a year before."""
        p = self.protected
        rows = [
            self._row(code, p.row_totals[i], self.before[code])
            for i, code in enumerate(self.rates.rows)
        ]
        total = self._row("total", p.grand_total, self.before_total, total=True)
        name = DIMENSIONS[self.dimension]
        return EvidenceTable(
            f"{self.dimension}",
            f"Referrals per 100,000 residents by {name}, {period_label}",
            PERIOD_COLUMNS,
            tuple(rows),
            total,
            note=_notes.get(self.dimension, ""),
            header=name.capitalize(),
            chart="rate",
        )

    def _row(self, code: str, now: int | None, before: int | None, total: bool = False) -> Row:
        c = self.everyone if total else self.changes.get(code)
        rate, ci = _rate(now, c.current if c else None)
        rate_before, _ = _rate(before, c.previous if c else None)
        diff, pct = change(now, before)
        population: Value = c.current.population if c and c.current.population else "-"
        name = "Total" if total else label(self.dimension, code)
        return Row(code, name, (now, population, rate, ci, before, rate_before, diff, pct))

    def month_table(self, rates: bool) -> EvidenceTable:
        """Referrals (or rates per 100,000, per month) by category and month."""
        p = self.protected
        months = self.rates.columns
        rows: list[Row] = []
        for i, code in enumerate(self.rates.rows):
            cells: list[Value] = []
            for j in range(len(months)):
                n = p.cells[i][j]
                cells.append(_rate(n, self.rates.cells[i][j])[0] if rates else n)
            if not rates:
                cells.append(p.row_totals[i])
            rows.append(Row(code, label(self.dimension, code), tuple(cells)))
        kind: Kind = "rate" if rates else "count"
        columns = tuple(Column(m, month_label(m), kind) for m in months)
        total = None
        if not rates:
            columns += (Column("total", "Total"),)
            total = Row("total", "Total", (*p.column_totals, p.grand_total))
        name = DIMENSIONS[self.dimension]
        what = "Monthly rate per 100,000" if rates else "Referrals"
        return EvidenceTable(
            f"{self.dimension}-month{'-rates' if rates else ''}",
            f"{what} by {name} and month",
            columns,
            tuple(rows),
            total,
            note="Rates per month, not annualised." if rates else "",
            header=name.capitalize(),
        )

    def year_table(self, years: RateTable) -> EvidenceTable:
        """Referrals and rates per 100,000 by calendar year (counts worked out from the
        months only where shown months give them)."""
        p = self.protected
        months = self.rates.columns
        rows: list[Row] = []
        for i, code in enumerate(self.rates.rows):
            cells: list[Value] = []
            for j, y in enumerate(years.columns):
                inside = [p.cells[i][k] for k, m in enumerate(months) if m.startswith(y)]
                outside = [p.cells[i][k] for k, m in enumerate(months) if not m.startswith(y)]
                n = derived(inside, outside, p.row_totals[i])
                r = years.cells[i][j] if i < len(years.cells) else None
                cells += [n, _rate(n, r)[0]]
            rows.append(Row(code, label(self.dimension, code), tuple(cells)))
        columns: tuple[Column, ...] = ()
        for y in years.columns:
            part = " (part)" if y in years.partial else ""
            columns += (Column(f"referrals_{y}", f"Referrals {y}{part}"),)
            columns += (Column(f"rate_{y}", f"Rate per 100,000, {y}{part}", "rate"),)
        name = DIMENSIONS[self.dimension]
        return EvidenceTable(
            f"{self.dimension}-year",
            f"Referrals per 100,000 residents by {name} and year",
            columns,
            tuple(rows),
            note="A year only partly in the period counts its days in the period over the "
            "whole year's population.",
            header=name.capitalize(),
        )


PERIOD_COLUMNS = (
    Column("referrals", "Referrals"),
    Column("population", "Population"),
    Column("rate", "Rate per 100,000", "rate"),
    Column("rate_ci", "95% interval", "interval"),
    Column("referrals_before", "Referrals a year before"),
    Column("rate_before", "Rate a year before", "rate"),
    Column("change", "Change in referrals", "change"),
    Column("change_percent", "Change", "percent"),
)

_notes = {
    "sex": "Rates for female and male only (the population estimates' categories); other "
    "recorded sexes are counted without a rate.",
    "age-band": "Age at referral; the population of each band is the sum of its single years.",
    "area": "Residents of each local authority; referrals from elsewhere or with no area "
    "known are counted without a rate.",
}


def deprivation_tables(n: NeedsAssessment, threshold: int) -> list[EvidenceTable]:
    """Rates by decile now and a year before, and the rate ratio and the slope index of
    inequality, each shown only when the decile counts it rests on are."""
    now = _deciles(n.deprivation, threshold)
    before = _deciles(n.previous_deprivation, threshold)
    rows = []
    for i, code in enumerate((*DECILES, "unknown")):
        r = n.deprivation.deciles[i] if i < len(DECILES) else None
        rb = n.previous_deprivation.deciles[i] if i < len(DECILES) else None
        rate, ci = _rate(now[0][code], r)
        diff, pct = change(now[0][code], before[0][code])
        population: Value = r.population if r and r.population else "-"
        rows.append(
            Row(
                code,
                label("decile", code),
                (
                    now[0][code],
                    population,
                    rate,
                    ci,
                    before[0][code],
                    _rate(before[0][code], rb)[0],
                    diff,
                    pct,
                ),
            )
        )
    total = Row(
        "total", "Total", (now[1], "-", None, None, before[1], None, *change(now[1], before[1]))
    )
    deciles = EvidenceTable(
        "deprivation",
        "Referrals per 100,000 residents by deprivation decile",
        PERIOD_COLUMNS,
        tuple(rows),
        total,
        note="Index of Multiple Deprivation decile of the referral's LSOA (1 = the most "
        "deprived tenth of England's neighbourhoods); populations are the deciles' residents "
        "in the partnership's local authorities.",
        header="Decile",
        chart="rate",
    )
    gaps = (_inequality(n.deprivation, now[0]), _inequality(n.previous_deprivation, before[0]))
    inequality = EvidenceTable(
        "inequality",
        "Inequality between the most and the least deprived",
        (
            Column("estimate", "Estimate", "number"),
            Column("ci", "95% interval", "interval"),
            Column("estimate_before", "Estimate a year before", "number"),
            Column("ci_before", "95% interval a year before", "interval"),
        ),
        (
            Row("rate-ratio", "Rate ratio, decile 1 to decile 10", (*gaps[0][0], *gaps[1][0])),
            Row("sii", "Slope index of inequality (per 100,000)", (*gaps[0][1], *gaps[1][1])),
        ),
        note="Rate ratio: decile 1's rate over decile 10's. Slope index of inequality: the "
        "fitted difference in rate per 100,000 between the most and the least deprived ends "
        "(positive: the most deprived bear more). Shown only when the counts they rest on are.",
        header="Measure",
    )
    return [deciles, inequality]


def _deciles(d: Deprivation, threshold: int) -> tuple[dict[str, int | None], int | None]:
    counts = {code: r.count for code, r in zip(DECILES, d.deciles, strict=False)}
    return protect_counts(counts | {"unknown": d.unknown}, threshold)


def _inequality(
    d: Deprivation, shown: Mapping[str, int | None]
) -> tuple[tuple[Value, Value], tuple[Value, Value]]:
    def est(e: Estimate | None, ok: bool) -> tuple[Value, Value]:
        return (e.value, Bounds(e.low, e.high)) if e and ok else (None, None)

    ratio = est(d.rate_ratio, shown["1"] is not None and shown["10"] is not None)
    sii = est(d.sii, all(shown[c] is not None for c in DECILES))
    return ratio, sii
