"""Bar charts drawn on the server as inline SVG: no script, nothing fetched from elsewhere.
This module only lays the bars out; the `charts.html` macro draws them (autoescaped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.intake.console.figures import Line

ROW = 24  # px per bar, room for 13 px text
LABEL_WIDTH = 230
BAR_WIDTH = 300
VALUE_WIDTH = 90
LABEL_CHARS = 32


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its count as text, where it sits and how long it is."""

    label: str
    text: str
    y: int
    length: int
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar chart, described in words for screen readers."""

    id: str
    title: str
    description: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(chart_id: str, title: str, lines: Sequence[Line]) -> Chart:
    """Bars scaled to the largest shown count; a suppressed count gets no bar at all (a
    bar's length would give the number away)."""
    largest = max((line.count for line in lines if line.count), default=0)
    bars = [
        Bar(
            label=_short(line.label),
            text="suppressed" if line.count is None else str(line.count),
            y=i * ROW,
            length=round(BAR_WIDTH * line.count / largest) if line.count and largest else 0,
            suppressed=line.count is None,
        )
        for i, line in enumerate(lines)
    ]
    words = "; ".join(
        f"{line.label}: {'suppressed' if line.count is None else line.count}" for line in lines
    )
    return Chart(
        id=chart_id,
        title=title,
        description=f"Bar chart. {words or 'No referrals yet'}. The same figures are in the table.",
        bars=bars,
        width=LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
        height=max(len(bars), 1) * ROW,
        label_width=LABEL_WIDTH,
    )
