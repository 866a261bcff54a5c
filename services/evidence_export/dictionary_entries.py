"""The data dictionary's entries for the aggregate files (the record-level file's entry is
`vrp.domain.evidence_dictionary.records_entry`, whose code lists come from the
configuration)."""

from __future__ import annotations

from vrp.domain.evidence_dictionary import RATE_CAVEAT, SUPPRESSED_CAVEAT, Column, FileEntry

_LOW = Column("low", "number", "Lower end of the 95 % confidence interval.", caveats=RATE_CAVEAT)
_HIGH = Column("high", "number", "Upper end of the 95 % confidence interval.", caveats=RATE_CAVEAT)
_POPULATION = Column(
    "population",
    "count",
    "Residents: ONS mid-year estimate of the latest year loaded that is not after the "
    "referrals' year (deprivation: the IMD file's population of the deciles' LSOAs in the "
    "partnership's areas).",
    caveats="Blank where no denominator exists: sexes other than female and male, unknown "
    "ages or areas, or no population file loaded. A published figure, not suppressed.",
)
_RATE = Column(
    "per_100k",
    "rate",
    "Referrals per 100,000 residents (Byar's interval in low and high).",
    caveats=RATE_CAVEAT + " Monthly rates are per month, not annualised.",
)
_COUNT = Column("count", "count", "Referrals.", caveats=SUPPRESSED_CAVEAT)

COUNTS = FileEntry(
    "counts",
    "Every table of counts the other files rest on, as published after disclosure control: "
    "one row per cell or total.",
    (
        Column(
            "scope",
            "text",
            "What the table belongs to: evaluation/<intervention>/<period> or needs.",
        ),
        Column("table", "code", "The table's key (e.g. funnel, declines, re-referral-6m)."),
        Column("title", "text", "The table's title."),
        Column("row", "code", "The row's code; total for the column totals."),
        Column("column", "code", "The column's code; total for the row totals."),
        Column("count", "count", "The count.", caveats=SUPPRESSED_CAVEAT),
    ),
    "Counts above zero but below the threshold are suppressed, and enough others with them "
    "(secondary suppression) that none can be worked out from the totals shown.",
)

EVALUATION = FileEntry(
    "evaluation",
    "Each intervention's evaluation over the period (current) and the period it is compared "
    "with (before-pilot for a pilot, else year-before): the funnel, times to acceptance and "
    "first contact, re-referral within 6 and 12 months against a matched comparison group.",
    (
        Column("intervention", "code", "The intervention (configuration id)."),
        Column("period", "code", "Which period.", "current; before-pilot; year-before"),
        Column("period_start", "text", "First day of the period (UTC), YYYY-MM-DD."),
        Column("period_end", "text", "Last day of the period (UTC), YYYY-MM-DD."),
        Column(
            "measure",
            "code",
            "The figure: offered, accepted, first-contact, completed, declined (offers made in "
            "the period that got that far); to-acceptance / to-first-contact -offers-timed, "
            "-median-hours, -p90-hours (nearest rank); re-referral-<6|12>m-<engaged|comparison>"
            "-proportion (low and high: Wilson 95 %) and -effective-size; "
            "re-referral-<6|12>m-strata (strata with both groups).",
            caveats="The re-referral comparison is observational, not a trial: the groups are "
            "matched only on age band, primary reason and local authority. Only people whose "
            "whole window has passed are counted.",
        ),
        Column(
            "value",
            "number",
            "The figure's value.",
            caveats="Blank where a count it rests on is suppressed (times: fewer offers timed "
            "than the threshold).",
        ),
        _LOW,
        _HIGH,
    ),
)

RATES = FileEntry(
    "rates",
    "Referrals per 100,000 residents by local authority, age band and sex, per month and "
    "per calendar year of referral.",
    (
        Column("dimension", "code", "What the rows are.", "area; age-band; sex"),
        Column("grain", "code", "Columns by month or by year.", "month; year"),
        Column(
            "row",
            "code",
            "Local authority (ONS code, other = elsewhere or unknown), age band or sex code.",
        ),
        Column("column", "text", "The month (YYYY-MM) or year (YYYY)."),
        Column(
            "partial",
            "code",
            "Whether only part of the year lies in the period.",
            "yes; no",
            "A partial year's rate is its days' referrals over the whole year's population.",
        ),
        _COUNT,
        _POPULATION,
        _RATE,
        _LOW,
        _HIGH,
    ),
)

DEPRIVATION = FileEntry(
    "deprivation",
    "Referrals by the Index of Multiple Deprivation decile of their LSOA, the period and "
    "the same dates a year before.",
    (
        Column("period", "code", "Which period.", "current; year-before"),
        Column(
            "decile",
            "code",
            "IMD decile, 1 = most deprived 10 % of England's LSOAs.",
            "1 ... 10; unknown (no LSOA, or outside the partnership's areas)",
        ),
        _COUNT,
        _POPULATION,
        _RATE,
        _LOW,
        _HIGH,
    ),
)

INEQUALITY = FileEntry(
    "inequality",
    "Summary measures of inequality across the deprivation deciles.",
    (
        Column("period", "code", "Which period.", "current; year-before"),
        Column(
            "measure",
            "code",
            "rate-ratio: the rate in decile 1 over decile 10 (interval by the log method); "
            "slope-index: slope index of inequality per 100,000 over the period (fitted rate "
            "of the most deprived minus the least; positive = the most deprived bear more).",
            "rate-ratio; slope-index",
        ),
        Column(
            "value",
            "number",
            "The measure.",
            caveats="Blank where a decile count it uses is suppressed (the ratio: deciles 1 "
            "and 10; the slope: every decile).",
        ),
        _LOW,
        _HIGH,
    ),
)

TRENDS = FileEntry(
    "trends",
    "The period against the same dates a year before.",
    (
        Column("dimension", "code", "What the rows are.", "all; area; age-band; sex; decile"),
        Column("code", "code", "The category's code."),
        Column("current", "count", "Referrals in the period.", caveats=SUPPRESSED_CAVEAT),
        Column("previous", "count", "Referrals a year before.", caveats=SUPPRESSED_CAVEAT),
        Column("change", "count", "current - previous.", caveats="Blank unless both are shown."),
        Column(
            "percent",
            "number",
            "The change as a percentage of previous.",
            caveats="Blank unless both are shown, or when previous is 0.",
        ),
        Column("current_rate", "rate", "Rate per 100,000 in the period.", caveats=RATE_CAVEAT),
        Column("previous_rate", "rate", "Rate per 100,000 a year before.", caveats=RATE_CAVEAT),
        Column(
            "rate_change",
            "rate",
            "current_rate - previous_rate.",
            caveats="Blank unless both rates are shown.",
        ),
    ),
)

AGGREGATE_ENTRIES = (EVALUATION, RATES, DEPRIVATION, INEQUALITY, TRENDS, COUNTS)
