"""Bar charts drawn on the server as inline SVG: no script, nothing fetched from elsewhere.
This module only lays the bars out; the `charts.html` macro draws them (autoescaped)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from services.intake.console.figures import Line

ROW = 24  # px per bar, room for 13 px text
LINE = 15  # px per further line of a wrapped label
LABEL_WIDTH = 230
BAR_WIDTH = 300
VALUE_WIDTH = 90
LABEL_CHARS = 28
"""A label line's length: 13 px system-font text, about 7 px a character, fits the width.
Longer labels wrap onto further lines (never cut off), and their row grows to hold them."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its count as text, where it sits and how long it is."""

    label: str
    lines: list[str]
    """The label wrapped to fit its column: every word of it shown."""
    text: str
    y: int
    height: int
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


def wrap(label: str) -> list[str]:
    """A label as lines that fit the label column (a word longer than a line is split)."""
    return textwrap.wrap(label, LABEL_CHARS, break_on_hyphens=False) or [""]


def bar_chart(chart_id: str, title: str, lines: Sequence[Line]) -> Chart:
    """Bars scaled to the largest shown count; a suppressed count gets no bar at all (a
    bar's length would give the number away)."""
    largest = max((line.count for line in lines if line.count), default=0)
    bars: list[Bar] = []
    y = 0
    for line in lines:
        wrapped = wrap(line.label)
        height = ROW + LINE * (len(wrapped) - 1)
        bars.append(
            Bar(
                label=line.label,
                lines=wrapped,
                text="suppressed" if line.count is None else str(line.count),
                y=y,
                height=height,
                length=round(BAR_WIDTH * line.count / largest) if line.count and largest else 0,
                suppressed=line.count is None,
            )
        )
        y += height
    words = "; ".join(
        f"{line.label}: {'suppressed' if line.count is None else line.count}" for line in lines
    )
    return Chart(
        id=chart_id,
        title=title,
        description=f"Bar chart. {words or 'No referrals yet'}. The same figures are in the table.",
        bars=bars,
        width=LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
        height=max(y, ROW),
        label_width=LABEL_WIDTH,
    )
