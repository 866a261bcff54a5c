"""The needs assessment, computed in the database, against figures worked out by hand: rates
per 100,000 by area, age band and sex per month and per year (with Byar intervals and the
latest population year loaded), deprivation deciles with the rate ratio and the slope
index of inequality, trends against a year before, the period's edges, and no data at
all. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from testkit.evidence import BIRMINGHAM, COVENTRY, DUDLEY, EvidenceRows
from testkit.rules import base
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.intervals import byar
from vrp.domain.evidence.results import NeedsAssessment, Rate, RateTable
from vrp.store.database import Database
from vrp.store.evidence import evaluation, needs
from vrp.store.unit import reading

PERIOD = (date(2026, 1, 1), date(2026, 2, 28))


def partnership() -> RoutingConfiguration:
    """A partnership serving Birmingham and Coventry."""
    data = base()
    data["interventions"][0]["eligibility"]["areas"] = [BIRMINGHAM, COVENTRY]
    return RoutingConfiguration.model_validate(data)


def at(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
    """A moment in UTC."""
    return datetime(year, month, day, hour, tzinfo=UTC)


async def residents_and_referrals(db: Database) -> None:
    """Populations (2025: Birmingham 300,000, Coventry 100,000; a stray 2024 row), four
    LSOAs, and referrals in January and February 2026 and a year before."""
    r = EvidenceRows()
    for area, young, old in ((BIRMINGHAM, 50_000, 100_000), (COVENTRY, 20_000, 30_000)):
        for sex in ("female", "male"):
            r.population(area, 2025, sex, 15, young)
            r.population(area, 2025, sex, 30, old)
    r.population(BIRMINGHAM, 2024, "male", 15, 1_000)  # older: not used for 2026
    r.lsoa("E01000001", BIRMINGHAM, 1, 10_000)
    r.lsoa("E01000002", BIRMINGHAM, 10, 40_000)
    r.lsoa("E01000003", COVENTRY, 5, 20_000)
    r.lsoa("E01000004", DUDLEY, 1, 5_000)  # outside the partnership
    b1, b2, c1, d1 = "E01000001", "E01000002", "E01000003", "E01000004"
    # January: Birmingham 3 (the first at the period's first instant), Coventry 1, no area
    # 1, Dudley 1.
    r.referral(datetime(2026, 1, 1, tzinfo=UTC), "A", lsoa=b1)
    r.referral(at(1, 9), "B", lsoa=b1)
    r.referral(at(1, 10), "C", age=30, sex="female", lsoa=b2)
    r.referral(at(1, 11), "D", sex="female", area=COVENTRY, lsoa=c1)
    r.referral(at(1, 12), "E", area=None)
    r.referral(at(1, 13), "F", area=DUDLEY, lsoa=d1)
    # February, all Birmingham: 3 boys of 15, a girl, an unknown age, sex indeterminate.
    r.referral(at(2, 1), "G", lsoa=b1)
    r.referral(at(2, 2), "H", lsoa=b1)
    r.referral(at(2, 3), "I", lsoa=b2)
    r.referral(at(2, 4), "J", sex="female", lsoa=b2)
    r.referral(at(2, 5), "K", age=None)
    r.referral(at(2, 6), "L", age=16, sex="indeterminate", lsoa=b1)
    # The first instant after the period: not counted.
    r.referral(datetime(2026, 3, 1, tzinfo=UTC), "M", lsoa=b1)
    # A year before: two in Birmingham in January 2025.
    r.referral(at(1, 20, year=2025), "N", lsoa=b2)
    r.referral(at(1, 21, year=2025), "O", lsoa=b2)
    await r.write(db)


async def assess(db: Database) -> NeedsAssessment:
    """The assessment of January and February 2026."""
    async with reading(db) as unit:
        return await needs(unit, partnership(), *PERIOD)


def table(tables: tuple[RateTable, ...], dimension: str) -> RateTable:
    """The table of one dimension."""
    return next(t for t in tables if t.dimension == dimension)


def counts(t: RateTable) -> dict[str, tuple[int, ...]]:
    """Each row's counts."""
    return {row: tuple(c.count for c in cells) for row, cells in zip(t.rows, t.cells, strict=True)}


def rates(t: RateTable) -> dict[str, tuple[float | None, ...]]:
    """Each row's rates per 100,000."""
    return {
        row: tuple(c.per_100k for c in cells) for row, cells in zip(t.rows, t.cells, strict=True)
    }


async def test_rates_per_100000_by_area_per_month_and_year(db: Database) -> None:
    await residents_and_referrals(db)
    found = await assess(db)
    assert found.areas == (BIRMINGHAM, COVENTRY)
    area = table(found.by_month, "area")
    assert area.columns == ("2026-01", "2026-02")
    assert area.partial == frozenset()
    assert counts(area) == {BIRMINGHAM: (3, 6), COVENTRY: (1, 0), "other": (2, 0)}
    # 3 and 6 of 300,000; 1 of 100,000 (the 2025 estimates: the latest on or before 2026).
    assert rates(area) == {
        BIRMINGHAM: (pytest.approx(1.0), pytest.approx(2.0)),
        COVENTRY: (pytest.approx(1.0), pytest.approx(0.0)),
        "other": (None, None),
    }
    january = area.cells[0][0]
    assert january.population == 300_000
    assert january.interval is not None
    # Byar for 3: 3 (1 - 1/27 - 1.96 / (3 sqrt 3))^3 = 0.60295; 4 (1 - 1/36 + 1.96/6)^3 = 8.76549.
    assert january.interval.low == pytest.approx(0.60295 / 3, rel=1e-4)
    assert january.interval.high == pytest.approx(8.76549 / 3, rel=1e-4)
    yearly = table(found.by_year, "area")
    assert yearly.columns == ("2026",)
    assert yearly.partial == frozenset({"2026"})
    assert counts(yearly)[BIRMINGHAM] == (9,)
    assert rates(yearly)[BIRMINGHAM] == pytest.approx((3.0,))


async def test_rates_by_age_band_and_sex_count_the_partnerships_residents(db: Database) -> None:
    await residents_and_referrals(db)
    found = await assess(db)
    age = table(found.by_month, "age-band")
    assert counts(age) == {
        "under 10": (0, 0),
        "10-13": (0, 0),
        "14-17": (3, 5),
        "18-24": (0, 0),
        "25+": (1, 0),
        "unknown": (0, 1),
    }
    # 14-17: 140,000 residents (Birmingham 100,000, Coventry 40,000); 25+: 260,000.
    assert rates(age)["14-17"] == pytest.approx((3 / 1.4, 5 / 1.4))
    assert rates(age)["25+"] == pytest.approx((1 / 2.6, 0.0))
    assert rates(age)["under 10"] == (None, None)  # nobody that young in the estimates
    assert rates(age)["unknown"] == (None, None)
    sex = table(found.by_month, "sex")
    assert counts(sex) == {
        "female": (2, 1),
        "male": (2, 4),
        "indeterminate": (0, 1),
        "not-known": (0, 0),
        "unknown": (0, 0),
    }
    # 200,000 of each sex; other codes are counted without a rate.
    assert rates(sex)["female"] == pytest.approx((1.0, 0.5))
    assert rates(sex)["male"] == pytest.approx((1.0, 2.0))
    assert rates(sex)["indeterminate"] == (None, None)


async def test_deprivation_deciles_rate_ratio_and_slope_index(db: Database) -> None:
    await residents_and_referrals(db)
    found = await assess(db)
    d = found.deprivation
    by = {str(i + 1): r for i, r in enumerate(d.deciles)}
    # Decile 1: 5 of 10,000 (Dudley's decile-1 LSOA is outside); decile 10: 3 of 40,000;
    # decile 5: 1 of 20,000. Unknown: no LSOA (2) or outside the partnership (1).
    assert (by["1"].count, by["10"].count, by["5"].count, d.unknown) == (5, 3, 1, 3)
    assert by["1"].per_100k == pytest.approx(50.0)
    assert by["10"].per_100k == pytest.approx(7.5)
    assert by["5"].per_100k == pytest.approx(5.0)
    assert by["2"] == Rate(0, None, None, None)
    # Rate ratio 50 / 7.5 with exp(ln RR +- 1.96 sqrt(1/5 + 1/3)).
    assert d.rate_ratio is not None
    assert d.rate_ratio.value == pytest.approx(20 / 3)
    assert d.rate_ratio.low == pytest.approx(1.59319, rel=1e-4)
    assert d.rate_ratio.high == pytest.approx(27.8965, rel=1e-4)
    # SII: shares 4/7, 2/7, 1/7 (deciles 10, 5, 1) at x = 2/7, 5/7, 13/14; the slope is
    # -28/15 * 7.5 + 14/15 * 5 + 14/15 * 50 = 112/3, its variance 522.67 (see the docs).
    assert d.sii is not None
    assert d.sii.value == pytest.approx(112 / 3)
    assert d.sii.low == pytest.approx(-7.47600, rel=1e-4)
    assert d.sii.high == pytest.approx(82.14267, rel=1e-4)
    # A year before: two referrals in decile 10 and none in decile 1: no ratio.
    assert found.previous_deprivation.deciles[9].count == 2
    assert found.previous_deprivation.rate_ratio is None


async def test_trends_against_the_same_dates_a_year_before(db: Database) -> None:
    await residents_and_referrals(db)
    found = await assess(db)
    assert found.previous.start == date(2025, 1, 1)
    trends = {t.dimension: t for t in found.trends}
    (everyone,) = trends["all"].changes
    # 10 from the partnership's areas against 2; both over 400,000 (the 2025 estimates).
    assert (everyone.current.count, everyone.previous.count) == (10, 2)
    assert everyone.change == 8 and everyone.percent == pytest.approx(400.0)
    assert everyone.rate_change == pytest.approx(2.5 - 0.5)
    area = {c.code: c for c in trends["area"].changes}
    assert (area[COVENTRY].change, area[COVENTRY].percent) == (1, None)
    decile = {c.code: c for c in trends["decile"].changes}
    assert (decile["10"].current.count, decile["10"].previous.count) == (3, 2)
    assert trends["area"].counts().cells == ((9, 2), (1, 0), (2, 0))


async def test_no_data_gives_zero_counts_and_no_rates(db: Database) -> None:
    found = await assess(db)
    area = table(found.by_month, "area")
    assert counts(area) == {BIRMINGHAM: (0, 0), COVENTRY: (0, 0), "other": (0, 0)}
    assert rates(area)[BIRMINGHAM] == (None, None)  # no population loaded
    assert found.deprivation.rate_ratio is None and found.deprivation.sii is None
    assert all(t.counts().cells for t in found.trends)
    async with reading(db) as unit:
        (only,) = await evaluation(unit, partnership(), *PERIOD)
    assert only.current.funnel.offered == 0
    assert all(w.engaged.proportion is None for w in only.current.re_referral)


def test_byar_for_no_events() -> None:
    # (1 - 1/9 + 1.96/3)^3 = 3.66810; the lower bound of nothing is nothing.
    assert byar(0).low == 0.0
    assert byar(0).high == pytest.approx(3.66810, rel=1e-5)
