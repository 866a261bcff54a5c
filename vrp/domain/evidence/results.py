"""What the evaluation and the needs assessment compute, before disclosure control.

Every result turns into tables of counts (`count_tables()`, each a `CountTable`) that a
caller protects with `vrp.domain.disclosure_control.protect(t.table(), threshold)` before
anything leaves the system. A figure derived from counts (a rate, a proportion, an
interval, a time, a change) is shown only where the counts it rests on are shown; each
type's docstring says which cells those are. Codes only (areas, interventions, reasons,
outcomes): the pages and the export put names to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vrp.domain.disclosure_control import Table
from vrp.domain.evidence.periods import Period


@dataclass(frozen=True, slots=True)
class Interval:
    """A 95 % confidence interval."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its 95 % confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class CountTable:
    """Counts in rows and columns, as a caller protects them: `table()` is what
    `protect` takes (published totals included), and `rows` / `columns` are the codes of
    the cells, in the same order (row i, column j is `cells[i][j]`)."""

    key: str
    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]
    row_totals: bool = True
    column_totals: bool = False

    def table(self) -> Table:
        """The counts for `disclosure_control.protect`."""
        return Table(self.cells, self.row_totals, self.column_totals)


# -- evaluation of interventions ----------------------------------------------------------

FUNNEL_STAGES = ("completed", "in-contact", "accepted", "no-response", "declined")
"""Where each offer got to, furthest first (every offer is in exactly one): completed;
first contact recorded, not completed; accepted, no first contact; never accepted nor
declined (awaiting, or cancelled before acceptance); declined."""


@dataclass(frozen=True, slots=True)
class Funnel:
    """The offers of one intervention made in the period (received_at in it), by where each
    got to. A stage counts the offers that reached it or went further, so `accepted`
    includes completed offers whose acceptance time was not recorded. Counts table: one
    row, the FUNNEL_STAGES as columns, the row total `offered`; a stage's figure is shown
    only when every column it sums is shown."""

    completed: int
    in_contact: int
    accepted_only: int
    no_response: int
    declined: int

    @property
    def offered(self) -> int:
        """Every offer made in the period."""
        return (
            self.completed + self.in_contact + self.accepted_only + self.no_response + self.declined
        )

    @property
    def accepted(self) -> int:
        """Offers accepted (and perhaps further)."""
        return self.completed + self.in_contact + self.accepted_only

    @property
    def first_contact(self) -> int:
        """Offers with a first contact recorded, or completed."""
        return self.completed + self.in_contact

    def stages(self) -> tuple[int, ...]:
        """The counts in FUNNEL_STAGES order."""
        return (
            self.completed,
            self.in_contact,
            self.accepted_only,
            self.no_response,
            self.declined,
        )


@dataclass(frozen=True, slots=True)
class Spread:
    """Hours from the offer to an event: how many offers have the time (`n`, a lone count:
    show the figures only when `shown_count(n, threshold)` is not None), and the median
    and 90th percentile by nearest rank (None when n is 0)."""

    n: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True, slots=True)
class Group:
    """One side of the re-referral comparison, after matching: the people in matched
    strata whose whole window has elapsed, how many of them were referred again, the
    proportion (weighted to the engaged group's strata for the comparison group) and its
    Wilson interval on the effective size (Kish's for the comparison group; the head
    count for the engaged). Proportion and interval are None when there are no people."""

    people: int
    re_referred: int
    proportion: float | None
    interval: Interval | None
    effective_size: float


@dataclass(frozen=True, slots=True)
class Cohort:
    """Who was considered for one side of the comparison: matched (counted), in a stratum
    the other side lacks (dropped), or too recent for the whole window (not yet)."""

    matched: int
    unmatched: int
    too_recent: int


@dataclass(frozen=True, slots=True)
class ReReferral:
    """Re-referral within `days` (183 for 6 months, 365 for 12) of the index time, people who
    completed the intervention (ENGAGED) against people offered it who did not engage
    (COMPARISON), matched on age band, primary reason and local authority. An
    observational comparison, not a trial.

    Counts tables: `re-referral-<months>m` (rows engaged, comparison; columns re-referred,
    not re-referred; row totals = people): a group's proportion and interval are shown
    only when both its cells are shown. `cohort-<months>m` (rows engaged, comparison;
    columns matched, unmatched, too-recent; row totals)."""

    months: int
    days: int
    engaged: Group
    comparison: Group
    strata: int
    engaged_cohort: Cohort
    comparison_cohort: Cohort

    def count_tables(self, prefix: str = "") -> list[CountTable]:
        """The comparison and its cohorts as tables of counts."""
        groups = ("engaged", "comparison")
        e, c = self.engaged, self.comparison
        ec, cc = self.engaged_cohort, self.comparison_cohort
        return [
            CountTable(
                f"{prefix}re-referral-{self.months}m",
                f"Referred again within {self.months} months",
                groups,
                ("re-referred", "not-re-referred"),
                (
                    (e.re_referred, e.people - e.re_referred),
                    (c.re_referred, c.people - c.re_referred),
                ),
            ),
            CountTable(
                f"{prefix}cohort-{self.months}m",
                f"Who was compared ({self.months} months)",
                groups,
                ("matched", "unmatched", "too-recent"),
                (
                    (ec.matched, ec.unmatched, ec.too_recent),
                    (cc.matched, cc.unmatched, cc.too_recent),
                ),
            ),
        ]


@dataclass(frozen=True, slots=True)
class PeriodEvaluation:
    """One intervention over one period: the funnel, declines by coded reason (row total =
    `funnel.declined`), outcomes of completed offers by coded outcome (row total =
    `funnel.completed`; `none` where no outcome was given), the times to acceptance and
    to first contact, and re-referral within 6 then 12 months."""

    period: Period
    funnel: Funnel
    declines: dict[str, int]
    outcomes: dict[str, int]
    to_acceptance: Spread
    to_contact: Spread
    re_referral: tuple[ReReferral, ...]

    def count_tables(self, prefix: str = "") -> list[CountTable]:
        """Every count this evaluation shows, as tables (keys start with `prefix`)."""
        return [
            CountTable(
                f"{prefix}funnel",
                "Offers by how far they got",
                ("offers",),
                FUNNEL_STAGES,
                (self.funnel.stages(),),
            ),
            _one_way(f"{prefix}declines", "Declines by reason", self.declines),
            _one_way(f"{prefix}outcomes", "Completions by outcome", self.outcomes),
            *(t for r in self.re_referral for t in r.count_tables(prefix)),
        ]


@dataclass(frozen=True, slots=True)
class InterventionEvaluation:
    """One intervention's evaluation: the period asked for (or, for a pilot when none was
    asked for, the pilot's dates) and the period it is compared with: `before-pilot` (the
    same length immediately before the pilot) or `year-before` (the same dates a year
    earlier). `pilot` is the pilot's own period, if the intervention is one."""

    intervention: str
    pilot: Period | None
    current: PeriodEvaluation
    previous: PeriodEvaluation
    previous_kind: Literal["before-pilot", "year-before"]

    def count_tables(self) -> list[CountTable]:
        """The current period's tables (keys `current-...`) and the previous period's
        (`previous-...`)."""
        return [*self.current.count_tables("current-"), *self.previous.count_tables("previous-")]


# -- needs assessment -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """A count of referrals, its population denominator (None when none is known: sexes
    other than female and male, unknown ages or areas, no population loaded) and the rate
    per 100,000 with its Byar interval (None without a denominator). Shown only where its
    count is."""

    count: int
    population: int | None
    per_100k: float | None
    interval: Interval | None


@dataclass(frozen=True, slots=True)
class RateTable:
    """Referrals by one dimension (`area`, `age-band` or `sex`: the row codes) and by
    month (`YYYY-MM`) or calendar year (`YYYY`) of referral (the column codes). Monthly
    rates are per month, not annualised; a year only partly in the period (`partial`)
    has the count of its days in the period over the whole year's population. Counts
    table: the same rows and columns, with row and column totals."""

    key: str
    title: str
    dimension: Literal["area", "age-band", "sex"]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Rate, ...], ...]
    partial: frozenset[str] = frozenset()

    def counts(self) -> CountTable:
        """The referral counts behind the rates."""
        cells = tuple(tuple(r.count for r in row) for row in self.cells)
        return CountTable(self.key, self.title, self.rows, self.columns, cells, True, True)


DECILES = tuple(str(d) for d in range(1, 11))
"""Index of Multiple Deprivation deciles, 1 = the most deprived tenth of England's LSOAs."""


@dataclass(frozen=True, slots=True)
class Deprivation:
    """Referrals over the period by the IMD decile of their LSOA (rows in DECILES order),
    the population of each decile across the partnership's local authorities, the rate
    per 100,000 over the whole period, the rate ratio of decile 1 to decile 10 (shown only
    when both counts are) and the slope index of inequality (per 100,000 over the
    period; positive: the most deprived bear more; shown only when every decile's count
    is). `unknown`: referrals with no LSOA, or one outside the partnership's areas.
    Counts table: one row, the deciles and `unknown` as columns, with the row total."""

    period: Period
    deciles: tuple[Rate, ...]
    unknown: int
    rate_ratio: Estimate | None
    sii: Estimate | None

    def counts(self, key: str = "deprivation") -> CountTable:
        """The referral counts by decile."""
        return CountTable(
            key,
            "Referrals by deprivation decile",
            ("referrals",),
            (*DECILES, "unknown"),
            ((*(r.count for r in self.deciles), self.unknown),),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One category now and a year before; the changes are shown only when both counts
    are. `percent` is None when the earlier count is 0."""

    code: str
    current: Rate
    previous: Rate

    @property
    def change(self) -> int:
        """The difference in counts."""
        return self.current.count - self.previous.count

    @property
    def percent(self) -> float | None:
        """The difference as a percentage of the earlier count."""
        if self.previous.count == 0:
            return None
        return 100.0 * self.change / self.previous.count

    @property
    def rate_change(self) -> float | None:
        """The difference in rates per 100,000 (None unless both have a rate)."""
        if self.current.per_100k is None or self.previous.per_100k is None:
            return None
        return self.current.per_100k - self.previous.per_100k


@dataclass(frozen=True, slots=True)
class Trend:
    """The period against the same dates a year before, by one dimension (`all`, `area`,
    `age-band`, `sex`, `decile`). Counts table: rows the codes, columns current and
    previous, with column totals."""

    key: str
    title: str
    dimension: str
    changes: tuple[Change, ...]

    def counts(self) -> CountTable:
        """The counts in both periods."""
        return CountTable(
            self.key,
            self.title,
            tuple(c.code for c in self.changes),
            ("current", "previous"),
            tuple((c.current.count, c.previous.count) for c in self.changes),
            row_totals=False,
            column_totals=True,
        )


@dataclass(frozen=True, slots=True)
class NeedsAssessment:
    """Where violence is heaviest and who is most affected, over a period: rates per
    100,000 by area, age band and sex, per month (`by_month`) and per calendar year
    (`by_year`); deprivation now and a year before; and trends against the same dates a
    year before. `areas` are the partnership's local authorities (the rows of the area
    tables, then `other` for referrals from elsewhere or without an area)."""

    period: Period
    previous: Period
    areas: tuple[str, ...]
    by_month: tuple[RateTable, ...]
    by_year: tuple[RateTable, ...]
    deprivation: Deprivation
    previous_deprivation: Deprivation
    trends: tuple[Trend, ...]

    def count_tables(self) -> list[CountTable]:
        """Every count the assessment shows, as tables."""
        return [
            *(t.counts() for t in self.by_month),
            *(t.counts() for t in self.by_year),
            self.deprivation.counts("deprivation"),
            self.previous_deprivation.counts("previous-deprivation"),
            *(t.counts() for t in self.trends),
        ]


def _one_way(key: str, title: str, counts: dict[str, int]) -> CountTable:
    """A breakdown as one row of a table with its total."""
    return CountTable(key, title, ("count",), tuple(counts), (tuple(counts.values()),))
