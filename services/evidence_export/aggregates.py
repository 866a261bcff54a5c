"""The export's aggregate files: exactly the Evidence pages' tables, protected as the pages
protect them (services/intake/console/evidence_*: the funnel, declines and outcomes as one
partition of the offers, each needs dimension's months as one table with the period's,
years' and trend's counts worked out from it), so that a count suppressed on a page is
suppressed in the export too and nothing follows from putting the two side by side. Each
table becomes one file, a suppressed count and every figure resting on it blank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence.results import InterventionEvaluation, NeedsAssessment
from vrp.domain.evidence_dictionary import (
    RATE_CAVEAT,
    SUPPRESSED_CAVEAT,
    Column,
    FileEntry,
    code_list,
)
from vrp.publication.cells import Bounds, EvidenceTable, Kind, Value
from vrp.publication.sections import RULE, evaluation_sections, needs_sections

Cell = str | int | float | None
Row = tuple[Cell, ...]
TOTAL = "total"

POPULATION_CAVEAT = (
    "Residents (ONS mid-year estimates; for deciles, the IMD file's LSOA populations in the "
    "partnership's areas): a published figure, never suppressed. Blank where none exists: "
    "sexes other than female and male, unknown ages or areas, or no population loaded."
)
_KINDS: dict[Kind, str] = {
    "count": "count",
    "change": "integer",
    "rate": "rate",
    "percent": "number",
    "hours": "number",
    "number": "number",
    "text": "text",
    "interval": "number",
}


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One aggregate file: its dictionary entry and its rows (already protected)."""

    entry: FileEntry
    rows: list[Row]


def _columns(table: EvidenceTable) -> tuple[Column, ...]:
    rows = [*table.rows, *([table.total] if table.total else [])]
    out = [
        Column(
            "code",
            "code",
            f"{table.header}: the row's code ({TOTAL} for the total row).",
            code_list({r.code: r.label for r in rows}),
        ),
        Column("label", "text", f"{table.header}: the row's name."),
    ]
    for c in table.columns:
        if c.kind == "interval":
            for end in ("lower", "upper"):
                out.append(
                    Column(
                        f"{c.key}_{end}",
                        "number",
                        f"{c.label}: {end} end (95 %).",
                        caveats=RATE_CAVEAT,
                    )
                )
            continue
        caveat = SUPPRESSED_CAVEAT if c.kind == "count" else RATE_CAVEAT
        if c.key == "population":
            caveat = POPULATION_CAVEAT
        out.append(Column(c.key, _KINDS[c.kind], c.label, caveats=caveat))
    return tuple(out)


def _cells(value: Value, kind: Kind) -> tuple[Cell, ...]:
    if isinstance(value, str) and kind != "text":
        return (None,)  # the page's "-" for a figure that does not exist (no denominator)
    if kind == "interval":
        if isinstance(value, Bounds):
            return (round(value.lower, 4), round(value.upper, 4))
        return (None, None)
    if isinstance(value, Bounds):  # not expected outside interval columns
        return (f"{value.lower} to {value.upper}",)
    if isinstance(value, float) and kind in ("count", "change"):
        return (int(value),)
    if isinstance(value, int) and kind not in ("count", "change", "text"):
        return (float(value),)
    if isinstance(value, float):
        return (round(value, 4),)
    return (value,)


def _rows(table: EvidenceTable) -> list[Row]:
    out: list[Row] = []
    for row in [*table.rows, *([table.total] if table.total else [])]:
        cells: list[Cell] = [row.code, row.label]
        for value, column in zip(row.values, table.columns, strict=True):
            cells += _cells(value, column.kind)
        out.append(tuple(cells))
    return out


def aggregate(name: str, table: EvidenceTable, rule: str) -> Aggregate:
    """One table as a file named `name` (a path without extension)."""
    meaning = f"{table.title}." + (f" {table.note}" if table.note else "")
    return Aggregate(FileEntry(name, meaning, _columns(table), rule), _rows(table))


def aggregates(
    evaluations: Sequence[InterventionEvaluation],
    needs: NeedsAssessment,
    config: RoutingConfiguration,
    period: Period,
    threshold: int,
) -> list[Aggregate]:
    """Every table of the needs assessment (needs/...) and of each intervention's
    evaluation (evaluation/<intervention>/...), protected."""
    rule = RULE.format(threshold=threshold)
    out: list[Aggregate] = []
    for section in needs_sections(needs, threshold, period.label()):
        out += [aggregate(f"needs/{t.key}", t, rule) for t in section.tables]
    for e in evaluations:
        for section in evaluation_sections(e, config, threshold):
            out += [
                aggregate(f"evaluation/{e.intervention}/{t.key}", t, rule) for t in section.tables
            ]
    return out
