"""The evidence's pure statistics: hand-worked values, and properties that must hold for any
input (an interval contains its estimate and stays in range, equal rates have no slope,
a nearest-rank percentile is a value somebody had)."""

from __future__ import annotations

from datetime import date
from math import isclose

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from testkit.draws import SETTINGS
from vrp.domain.evidence.bands import band
from vrp.domain.evidence.inequality import rate_ratio, slope_index
from vrp.domain.evidence.intervals import byar, rate, wilson
from vrp.domain.evidence.matching import StratumCounts, kish, match
from vrp.domain.evidence.percentiles import nearest_rank, percentile
from vrp.domain.evidence.periods import Period

counts = st.integers(min_value=0, max_value=100_000)
positive = st.integers(min_value=1, max_value=100_000)
populations = st.integers(min_value=1, max_value=10_000_000)


def test_wilson_by_hand() -> None:
    # 1 of 3: centre (1/3 + 1.96^2/6) / (1 + 1.96^2/3), half-width 1.96/(1 + 1.2805) *
    # sqrt(2/27 + 3.8416/36): (0.06149, 0.79234).
    found = wilson(1 / 3, 3)
    assert found is not None
    assert found.low == pytest.approx(0.0614903, rel=1e-5)
    assert found.high == pytest.approx(0.792345, rel=1e-5)
    assert wilson(0.5, 0) is None


def test_nearest_rank_by_hand() -> None:
    assert [nearest_rank(50, n) for n in (1, 2, 3, 4, 5, 10)] == [1, 1, 2, 2, 3, 5]
    assert [nearest_rank(90, n) for n in (1, 2, 9, 10, 11)] == [1, 2, 9, 9, 10]
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0], 50) == 2.0  # rank 2 of 1, 2, 3, 5
    with pytest.raises(ValueError):
        nearest_rank(0, 4)


def test_age_bands_are_the_dashboards() -> None:
    ages = (None, 0, 9, 10, 13, 14, 17, 18, 24, 25, 90)
    assert [band(a) for a in ages] == [
        "unknown",
        "under 10",
        "under 10",
        "10-13",
        "10-13",
        "14-17",
        "14-17",
        "18-24",
        "18-24",
        "25+",
        "25+",
    ]


def test_periods_compare_with_a_year_before_and_the_same_length_before() -> None:
    q1 = Period(date(2024, 1, 1), date(2024, 2, 29))
    assert q1.days == 60
    assert q1.year_before().end.isoformat() == "2023-02-28"
    assert q1.before().start.isoformat() == "2023-11-02"
    assert q1.before().days == 60
    assert q1.months() == ("2024-01", "2024-02")
    with pytest.raises(ValueError):
        Period(q1.end, q1.start)


def test_matching_weights_by_hand() -> None:
    # Stratum a: 2 engaged, 4 compared (weight 1/2, 1 referred again); b: 1 and 1 (weight 1,
    # referred again); c: engaged only (dropped).
    found = match(
        {
            ("14-17", "knife", "x"): StratumCounts(2, 1, 4, 1),
            ("25+", "knife", "x"): StratumCounts(1, 0, 1, 1),
            ("10-13", "knife", "x"): StratumCounts(3, 3, 0, 0),
        }
    )
    assert (found.strata, found.engaged_unmatched, found.comparison_unmatched) == (2, 3, 0)
    assert found.engaged.proportion == pytest.approx(1 / 3)
    assert found.comparison.proportion == pytest.approx((0.5 * 1 + 1 * 1) / 3)
    assert found.comparison.effective_size == pytest.approx(9 / (4 * 0.25 + 1))
    assert kish({}) == 0.0


@SETTINGS
@given(st.integers(min_value=1, max_value=10_000), st.data())
def test_wilson_contains_the_proportion_and_stays_in_range(n: int, data: st.DataObject) -> None:
    x = data.draw(st.integers(min_value=0, max_value=n))
    found = wilson(x / n, n)
    assert found is not None
    assert 0.0 <= found.low <= x / n <= found.high <= 1.0
    mirrored = wilson(1 - x / n, n)
    assert mirrored is not None
    assert isclose(mirrored.low, 1 - found.high, abs_tol=1e-9)


@SETTINGS
@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0.5, max_value=1e6))
def test_wilson_on_an_effective_size(p: float, n: float) -> None:
    found = wilson(p, n)
    assert found is not None
    assert 0.0 <= found.low <= p <= found.high <= 1.0


@SETTINGS
@given(counts)
def test_byar_contains_the_count_and_grows_with_it(count: int) -> None:
    found = byar(count)
    assert 0.0 <= found.low <= count < found.high
    assert byar(count + 1).high > found.high
    assert byar(count + 1).low >= found.low


@SETTINGS
@given(counts, populations)
def test_a_rate_lies_in_its_interval(count: int, population: int) -> None:
    found = rate(count, population)
    assert found is not None
    value, interval = found
    assert interval.low <= value <= interval.high
    assert rate(count, 0) is None and rate(count, None) is None


@SETTINGS
@given(positive, populations, positive, populations)
def test_rate_ratio_interval_contains_the_ratio(a: int, pa: int, b: int, pb: int) -> None:
    found = rate_ratio(a, pa, b, pb)
    assert found is not None
    assert found.low <= found.value <= found.high
    reverse = rate_ratio(b, pb, a, pa)
    assert reverse is not None
    assert isclose(reverse.value * found.value, 1.0, rel_tol=1e-9)
    assert rate_ratio(0, pa, b, pb) is None


@SETTINGS
@given(
    st.lists(st.integers(min_value=1, max_value=1000), min_size=2, max_size=10),
    st.integers(min_value=0, max_value=50),
)
def test_equal_rates_have_no_slope(sizes: list[int], per: int) -> None:
    # Every group's rate is per / 1000 residents.
    found = slope_index([(per * s, 1000 * s) for s in sizes])
    assert found is not None
    scale = per / 1000 * 100_000
    assert abs(found.value) <= 1e-9 * max(1.0, scale)
    assert found.low <= found.value <= found.high


@SETTINGS
@given(st.lists(st.tuples(counts, populations), min_size=2, max_size=10))
def test_rates_rising_with_deprivation_give_a_positive_slope(
    groups: list[tuple[int, int]],
) -> None:
    # Order the groups by rate, least deprived (lowest rate) first.
    ordered = sorted(groups, key=lambda g: g[0] / g[1])
    found = slope_index(ordered)
    assert found is not None
    rising = len({round(c / p, 12) for c, p in ordered}) > 1
    event(f"rates differ: {rising}")
    assert found.value >= -1e-9 * (1 + abs(found.value))
    if rising:
        assert found.value > 0
    assert found.low <= found.value <= found.high


def test_slope_index_needs_two_groups_with_residents() -> None:
    assert slope_index([(3, 100), (4, 0)]) is None
    assert slope_index([]) is None


@SETTINGS
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=100),
)
def test_a_nearest_rank_percentile_is_a_value_somebody_had(values: list[float], p: int) -> None:
    found = percentile(values, p)
    assert found in values
    n = len(values)
    # At least p % of the values are at or below it, fewer than p % strictly below.
    assert sum(v <= found for v in values) * 100 >= p * n
    assert sum(v < found for v in values) * 100 < p * n


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=50),
            st.integers(min_value=1, max_value=50),
            st.data(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_weighted_comparison_stays_a_proportion_on_at_most_its_head_count(
    strata: list[tuple[int, int, st.DataObject]],
) -> None:
    table = {}
    for i, (engaged, compared, data) in enumerate(strata):
        again = data.draw(st.integers(min_value=0, max_value=compared))
        table[(str(i), "r", "a")] = StratumCounts(engaged, 0, compared, again)
    found = match(table)
    c = found.comparison
    assert c.proportion is not None and c.interval is not None
    assert 0.0 <= c.interval.low <= c.proportion <= c.interval.high <= 1.0
    assert 0 < c.effective_size <= c.people + 1e-9
    same = all(e == n for e, n, _ in strata)
    event(f"weights all one: {same}")
    if same:
        assert isclose(c.effective_size, c.people)
        assert isclose(c.proportion, c.re_referred / c.people)
