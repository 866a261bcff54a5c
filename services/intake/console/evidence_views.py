"""What each evidence page shows: the prepared figures (evidence_results) in their
protected tables (vrp.publication) with a chart for each."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.intake.console.charts import (
    BAR_WIDTH,
    LABEL_WIDTH,
    LINE,
    ROW,
    VALUE_WIDTH,
    Bar,
    Chart,
    wrap,
)
from services.intake.console.evidence_periods import Choice
from services.intake.console.evidence_results import EvidenceResults, Prepared
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.results import InterventionEvaluation
from vrp.publication.cells import EvidenceTable, text
from vrp.publication.sections import Section


@dataclass(frozen=True, slots=True)
class View:
    """A page's sections and the charts of their tables, by table key."""

    sections: list[Section]
    charts: dict[str, Chart] = field(default_factory=dict)

    def table(self, key: str) -> EvidenceTable | None:
        """One table by its key (its CSV's name)."""
        return next((t for s in self.sections for t in s.tables if t.key == key), None)


def view(sections: list[Section], prefix: str = "") -> View:
    """Sections with each table's chart (ids unique on the page through `prefix`)."""
    charts: dict[str, Chart] = {}
    for s in sections:
        for t in s.tables:
            c = chart(t, f"chart-{prefix}{t.key}")
            if c is not None:
                charts[t.key] = c
    return View(sections, charts)


async def evaluations_of(
    results: EvidenceResults,
    config: RoutingConfiguration,
    period: Choice,
    only: str | None,
    wait: float | None,
) -> Prepared[list[InterventionEvaluation]] | None:
    """Each intervention's evaluation (or one's): a pilot's against the time before it, a
    quarter or year against the same dates a year before; None when not ready in time."""
    span = None if period.code == "pilot" else period.span
    found = await results.evaluations(config, span, only, wait)
    if found is None or only is None:
        return found
    return Prepared([e for e in found.value if e.intervention == only], found.at)


def chart(table: EvidenceTable, chart_id: str) -> Chart | None:
    """The table's charted column as horizontal bars (none for a figure not shown, whose
    length would give it away), described in words for screen readers."""
    if table.chart is None:
        return None
    at = table.column(table.chart)
    kind = table.columns[at].kind
    values = [r.values[at] for r in table.rows]
    numbers = [
        v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values
    ]
    largest = max((n for n in numbers if n), default=0)
    bars: list[Bar] = []
    y = 0
    for row, n in zip(table.rows, numbers, strict=True):
        lines = wrap(row.label)
        height = ROW + LINE * (len(lines) - 1)
        # A suppressed count says so (the macro writes it); any other figure left out (a
        # rate beside a suppressed count, or with no population) is "not shown".
        hidden = n is None and kind == "count"
        shown = "not shown" if n is None else text(n, kind)
        length = round(BAR_WIDTH * n / largest) if n and largest else 0
        bars.append(Bar(row.label, lines, shown, y, height, length, hidden))
        y += height
    words = "; ".join(f"{b.label}: {b.text}" for b in bars)
    what = table.columns[at].label
    return Chart(
        id=chart_id,
        title=f"{table.title}: {what}",
        description=f"Bar chart of {what}. {words or 'No figures'}. "
        "The same figures are in the table.",
        bars=bars,
        width=LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
        height=max(y, ROW),
        label_width=LABEL_WIDTH,
    )
