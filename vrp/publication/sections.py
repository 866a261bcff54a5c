"""The evidence's tables in their sections, as a page shows them and an export writes
them: the needs assessment's and each intervention's evaluation's, protected."""

from __future__ import annotations

from dataclasses import dataclass

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.results import InterventionEvaluation, NeedsAssessment
from vrp.publication.cells import EvidenceTable
from vrp.publication.needs import DIMENSIONS, Dimension, deprivation_tables
from vrp.publication.protect import (
    ProtectedFunnel,
    declines_table,
    funnel_table,
    outcomes_table,
    rereferral_table,
    times_table,
)

RULE = (
    "Counts above zero but below {threshold} are shown as suppressed, and so are some larger "
    "ones, so that no small count can be worked out from the totals or the other tables; a "
    "rate, share, interval or time resting on a suppressed count is left blank."
)
"""The disclosure rule stated under every table (the dashboard's, in the same words)."""


@dataclass(frozen=True, slots=True)
class Section:
    """A group of tables under one heading."""

    key: str
    title: str
    tables: list[EvidenceTable]
    intro: str = ""


def needs_sections(n: NeedsAssessment, threshold: int, period_label: str) -> list[Section]:
    """Rates by area, age band and sex (the period, each month, each year), then by
    deprivation decile with the inequality measures."""
    out: list[Section] = []
    years = {t.dimension: t for t in n.by_year}
    for table in n.by_month:
        d = Dimension(table, n.trends, threshold)
        tables = [d.period_table(period_label), d.month_table(False), d.month_table(True)]
        if table.dimension in years:
            tables.append(d.year_table(years[table.dimension]))
        title = f"By {DIMENSIONS[table.dimension]}"
        out.append(Section(f"by-{table.dimension}", title, tables))
    out.append(
        Section(
            "deprivation",
            "Deprivation",
            deprivation_tables(n, threshold),
            "Each referral's neighbourhood (its LSOA, from the postcode directory) and that "
            "neighbourhood's Index of Multiple Deprivation decile.",
        )
    )
    return out


def evaluation_sections(
    e: InterventionEvaluation, config: RoutingConfiguration, threshold: int
) -> list[Section]:
    """The funnel (against the period compared with), declines, outcomes, times and
    re-referral with its comparison group."""
    now = ProtectedFunnel(e.current, threshold)
    before = ProtectedFunnel(e.previous, threshold)
    compared = "before the pilot" if e.previous_kind == "before-pilot" else "a year before"
    declines = config.codes.by_api_name()["decline-reasons"]
    outcomes = config.codes.by_api_name()["outcomes"]
    return [
        Section(
            "funnel",
            "Offers, acceptance and completion",
            [
                funnel_table(now, before, compared),
                declines_table(now, {str(k): v for k, v in declines.items()}),
                outcomes_table(now, {str(k): v for k, v in outcomes.items()}),
                times_table(e.current.to_acceptance, e.current.to_contact, threshold),
            ],
        ),
        Section(
            "rereferral",
            "Referred again",
            [rereferral_table(r, threshold) for r in e.current.re_referral],
            "People referred again (by anyone, found through the keyed subject index) within 6 "
            "and 12 months of completing the intervention, against people offered it who did "
            "not engage (declined, or never contacted) since their offer closed or was made. "
            "This is an observational comparison, not a trial.",
        ),
    ]
