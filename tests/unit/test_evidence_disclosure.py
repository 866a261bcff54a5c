"""Disclosure control of the evidence pages' tables, read as a person reads them: no count
suppressed on a page can be worked out from everything else the tables show (counts,
totals, steps of the funnel, years summed from months), and no rate, share or interval
stands beside a suppressed count."""

from __future__ import annotations

import os
from datetime import date

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from testkit.disclosure import Relation, could_differ
from vrp.domain.disclosure_control import protect
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence.results import (
    DECILES,
    Change,
    Cohort,
    Deprivation,
    Estimate,
    Funnel,
    Group,
    Interval,
    NeedsAssessment,
    PeriodEvaluation,
    Rate,
    RateTable,
    ReReferral,
    Spread,
    Trend,
)
from vrp.publication.cells import EvidenceTable, Value
from vrp.publication.needs import Dimension, deprivation_tables
from vrp.publication.protect import (
    ACCEPTED_ONLY,
    IN_CONTACT,
    ProtectedFunnel,
    declines_table,
    funnel_table,
    outcomes_table,
    partition,
    rereferral_cells,
    rereferral_table,
)

EXAMPLES = int(os.environ.get("VRP_PROPERTY_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
THRESHOLDS = st.integers(2, 6)
SMALL = st.integers(0, 12)
QUARTER = Period(date(2026, 1, 1), date(2026, 3, 31))


def _rows(t: EvidenceTable) -> dict[str, tuple[Value, ...]]:
    return {r.code: r.values for r in [*t.rows, *([t.total] if t.total else [])]}


def _count(v: Value) -> int | None:
    assert v is None or isinstance(v, int), v
    return v


# -- the evaluation: funnel, declines and outcomes are one partition ---------------------


@st.composite
def evaluations(draw: st.DrawFn) -> PeriodEvaluation:
    declines = draw(st.dictionaries(st.sampled_from(["no-capacity", "not-eligible", "x"]), SMALL))
    outcomes = draw(st.dictionaries(st.sampled_from(["engaged", "moved", "y"]), SMALL))
    funnel = Funnel(
        completed=sum(outcomes.values()) + draw(st.integers(0, 2)),
        in_contact=draw(SMALL),
        accepted_only=draw(SMALL),
        no_response=draw(SMALL),
        declined=sum(declines.values()) + draw(st.integers(0, 2)),
    )
    none = Spread(0, None, None)
    return PeriodEvaluation(QUARTER, funnel, declines, outcomes, none, none, ())


@SETTINGS
@given(evaluations(), evaluations(), THRESHOLDS)
def test_no_suppressed_offer_count_follows_from_the_funnel_and_its_breakdowns(
    e: PeriodEvaluation, before: PeriodEvaluation, threshold: int
) -> None:
    p = ProtectedFunnel(e, threshold)
    funnel = _rows(funnel_table(p, ProtectedFunnel(before, threshold), "before"))
    declines = _rows(declines_table(p, {}))
    outcomes = _rows(outcomes_table(p, {}))
    truth = partition(e)
    # What the pages show of each part (the two parts without a row of their own count as
    # shown whenever the protection shows them: the stages may give them away, harmlessly).
    shown: dict[str, int | None] = {ACCEPTED_ONLY: p.parts[ACCEPTED_ONLY]}
    shown[IN_CONTACT] = p.parts[IN_CONTACT]
    shown |= {f"declined:{k}": _count(v[0]) for k, v in declines.items() if k != "total"}
    shown["no-response"] = shown.pop("declined:no-response")
    shown |= {f"completed:{k}": _count(v[0]) for k, v in outcomes.items() if k != "total"}
    assert set(shown) == set(truth)
    parts = list(truth)
    accepted = [k for k in parts if k in (ACCEPTED_ONLY, IN_CONTACT) or k.startswith("comp")]
    contact = [k for k in parts if k == IN_CONTACT or k.startswith("comp")]
    completed = [k for k in parts if k.startswith("comp")]
    refused = [k for k in parts if k not in accepted]
    relations: list[Relation] = [
        (parts, _count(funnel["offered"][0])),
        (accepted, _count(funnel["accepted"][0])),
        (contact, _count(funnel["first-contact"][0])),
        (completed, _count(funnel["completed"][0])),
        (completed, _count(outcomes["total"][0])),
        (refused, _count(declines["total"][0])),
    ]
    for k, v in shown.items():
        if v is not None:
            assert v == truth[k]
        if 0 < truth[k] < threshold:
            assert v is None, k
    for (_, total), figure in zip(relations, (*("stage",) * 4, "total", "total"), strict=True):
        event(f"{figure} shown" if total is not None else f"{figure} suppressed")
    hidden = [k for k, v in shown.items() if v is None]
    event(f"parts suppressed: {min(len(hidden), 4)}")
    for k in hidden:
        assert could_differ(truth, shown, relations, k), (k, truth, shown, relations)
    for code, values in funnel.items():  # a share only beside its count
        assert values[0] is not None or values[1] is None, code


# -- re-referral: both groups and their cohorts are one table ------------------------------


@st.composite
def rereferrals(draw: st.DrawFn) -> ReReferral:
    def side() -> tuple[Group, Cohort]:
        people, re = draw(SMALL), draw(SMALL)
        re = min(re, people)
        share = re / people if people else None
        ci = Interval(0.0, 1.0) if people else None
        return Group(people, re, share, ci, float(people)), Cohort(people, draw(SMALL), draw(SMALL))

    (e, ec), (c, cc) = side(), side()
    return ReReferral(6, 183, e, c, draw(st.integers(0, 5)), ec, cc)


@SETTINGS
@given(rereferrals(), THRESHOLDS)
def test_no_suppressed_person_count_follows_from_a_rereferral_table(
    r: ReReferral, threshold: int
) -> None:
    table = _rows(rereferral_table(r, threshold))
    cells = rereferral_cells(r).cells
    p = protect(rereferral_cells(r), threshold)
    truth: dict[str, int] = {}
    shown: dict[str, int | None] = {}
    relations: list[Relation] = []
    for i, group in enumerate(("engaged", "comparison")):
        people, matched, unmatched, recent, re, share, ci, effective = table[group]
        names = [f"{group}:{c}" for c in ("re", "no", "unmatched", "recent")]
        truth |= dict(zip(names, cells[i], strict=True))
        shown |= {names[0]: _count(re), names[1]: p.cells[i][1]}
        shown |= {names[2]: _count(unmatched), names[3]: _count(recent)}
        relations += [(names, _count(people)), (names[:2], _count(matched))]
        if share is not None or ci is not None or effective is not None:
            assert re is not None and matched is not None  # else share x matched = re
    for k, v in shown.items():
        assert v is None or v == truth[k]
        if 0 < truth[k] < threshold:
            assert v is None, k
    hidden = [k for k, v in shown.items() if v is None]
    event(f"cells suppressed: {min(len(hidden), 4)}")
    for k in hidden:
        assert could_differ(truth, shown, relations, k), (k, truth, shown)


# -- needs: a dimension's months, periods and years come from one protected table ----------

MONTHS = ("2025-11", "2025-12", "2026-01")


def _rate(n: int, population: int | None = 1000) -> Rate:
    per = n / population * 100_000 if population else None
    return Rate(n, population, per, Interval(0.0, 1.0) if population else None)


@st.composite
def dimensions(draw: st.DrawFn) -> tuple[RateTable, RateTable, list[Trend]]:
    rows = draw(st.integers(1, 4))
    months = MONTHS[: draw(st.integers(1, 3))]
    counts = [[draw(SMALL) for _ in months] for _ in range(rows)]
    codes = tuple(f"E0800002{i}" for i in range(rows))
    monthly = RateTable(
        "area-month",
        "by month",
        "area",
        codes,
        months,
        tuple(tuple(_rate(n) for n in row) for row in counts),
    )
    years = tuple(sorted({m[:4] for m in months}))
    yearly = RateTable(
        "area-year",
        "by year",
        "area",
        codes,
        years,
        tuple(
            tuple(
                _rate(sum(n for n, m in zip(row, months, strict=True) if m.startswith(y)))
                for y in years
            )
            for row in counts
        ),
    )
    before = [draw(SMALL) for _ in range(rows)]
    changes = tuple(
        Change(code, _rate(sum(row)), _rate(b))
        for code, row, b in zip(codes, counts, before, strict=True)
    )
    return monthly, yearly, [Trend("area", "Areas", "area", changes)]


@SETTINGS
@given(dimensions(), THRESHOLDS)
def test_no_suppressed_referral_count_follows_from_months_periods_and_years(
    d: tuple[RateTable, RateTable, list[Trend]], threshold: int
) -> None:
    monthly, yearly, trends = d
    dim = Dimension(monthly, trends, threshold)
    period = _rows(dim.period_table("the quarter"))
    counts = _rows(dim.month_table(False))
    rates = _rows(dim.month_table(True))
    years = _rows(dim.year_table(yearly))
    months = monthly.columns
    truth = {
        f"{r}:{m}": monthly.cells[i][j].count
        for i, r in enumerate(monthly.rows)
        for j, m in enumerate(months)
    }
    shown = {f"{r}:{m}": _count(counts[r][j]) for r in monthly.rows for j, m in enumerate(months)}
    relations: list[Relation] = []
    for r in monthly.rows:
        row = [f"{r}:{m}" for m in months]
        relations += [(row, _count(counts[r][-1])), (row, _count(period[r][0]))]
        for j, y in enumerate(yearly.columns):
            relations.append(
                ([f"{r}:{m}" for m in months if m.startswith(y)], _count(years[r][2 * j]))
            )
            assert years[r][2 * j + 1] is None or years[r][2 * j] is not None
        for j in range(len(months)):
            assert rates[r][j] is None or counts[r][j] is not None  # rate x population = count
        assert period[r][2] is None or period[r][0] is not None
        assert period[r][3] is None or period[r][0] is not None
        assert period[r][5] is None or period[r][4] is not None
    for j, m in enumerate(months):
        relations.append(([f"{r}:{m}" for r in monthly.rows], _count(counts["total"][j])))
    relations.append((list(truth), _count(counts["total"][-1])))
    relations.append((list(truth), _count(period["total"][0])))
    for k, v in shown.items():
        assert v is None or v == truth[k]
        if 0 < truth[k] < threshold:
            assert v is None, k
    hidden = [k for k, v in shown.items() if v is None]
    event(f"cells suppressed: {min(len(hidden), 4)}")
    for k in hidden:
        assert could_differ(truth, shown, relations, k), (k, truth, shown)
    # The year before: a one-way table with its total.
    before = {r: c.previous.count for r, c in zip(monthly.rows, trends[0].changes, strict=True)}
    shown_before = {r: _count(period[r][4]) for r in monthly.rows}
    for r in [r for r, v in shown_before.items() if v is None]:
        assert could_differ(before, shown_before, [(list(before), _count(period["total"][4]))], r)


@SETTINGS
@given(st.lists(SMALL, min_size=11, max_size=11), THRESHOLDS)
def test_inequality_measures_only_beside_the_decile_counts_they_rest_on(
    counts: list[int], threshold: int
) -> None:
    deciles = tuple(_rate(n) for n in counts[:10])
    d = Deprivation(QUARTER, deciles, counts[10], Estimate(2.0, 1.0, 3.0), Estimate(5.0, 1.0, 9.0))
    n = NeedsAssessment(QUARTER, QUARTER.year_before(), (), (), (), d, d, ())
    table, inequality = deprivation_tables(n, threshold)
    rows, gaps = _rows(table), _rows(inequality)
    shown = {c: _count(rows[c][0]) for c in (*DECILES, "unknown")}
    truth = dict(zip((*DECILES, "unknown"), counts, strict=True))
    for c in [c for c, v in shown.items() if v is None]:
        assert could_differ(truth, shown, [(list(truth), _count(rows["total"][0]))], c)
    ratio_ok = shown["1"] is not None and shown["10"] is not None
    event(f"rate ratio {'shown' if gaps['rate-ratio'][0] is not None else 'left out'}")
    assert (gaps["rate-ratio"][0] is not None) == ratio_ok
    assert (gaps["sii"][0] is not None) == all(shown[c] is not None for c in DECILES)
