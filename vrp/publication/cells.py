"""The evidence tables as shown: already protected, each cell a count, a rate, an interval
or words; the same table drawn as HTML (and charted) by the console, written as CSV here."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["count", "change", "rate", "interval", "percent", "hours", "number", "text"]
"""`change`: a difference of two counts (signed; not shown when either is suppressed)."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """A 95 % confidence interval."""

    lower: float
    upper: float


Value = int | float | str | Bounds | None
"""None: a suppressed count, or a figure not shown because a count it rests on is."""


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its CSV name, its heading, and what its cells hold."""

    key: str
    label: str
    kind: Kind = "count"


@dataclass(frozen=True, slots=True)
class Row:
    """A row: its code (CSV), its label (page) and its cells, one per column."""

    code: str
    label: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class EvidenceTable:
    """A table as it may leave the system (every small count suppressed, with its
    complements), and the column its chart draws, if any."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: Row | None = None
    note: str = ""
    header: str = "Category"
    chart: str | None = None

    def column(self, key: str) -> int:
        """The position of a column."""
        return [c.key for c in self.columns].index(key)

    def cell(self, code: str, key: str) -> Value:
        """One cell by its row's code and its column's key."""
        rows = [*self.rows, *([self.total] if self.total else [])]
        return next(r for r in rows if r.code == code).values[self.column(key)]


def derived(
    parts: Sequence[int | None], others: Sequence[int | None], total: int | None
) -> int | None:
    """The sum of `parts` if what is shown already gives it away (every part shown, or the
    total and every other part shown), else None: showing it then tells nobody anything."""
    if all(p is not None for p in parts):
        return sum(p for p in parts if p is not None)
    if total is not None and all(o is not None for o in others):
        return total - sum(o for o in others if o is not None)
    return None


def rate_if(count: int | None, rate: float | None) -> float | None:
    """A rate only beside a count that is shown (a rate and its denominator give the count)."""
    return None if count is None else rate


def per(count: int | None, population: int | None, scale: int = 100_000) -> float | None:
    """Count per `scale` of a population (None without one)."""
    if count is None or not population:
        return None
    return count / population * scale


def change(now: int | None, before: int | None) -> tuple[int | None, float | None]:
    """The change from before to now, absolute and in per cent (None when not shown)."""
    if now is None or before is None:
        return None, None
    return now - before, ((now - before) / before * 100) if before else None


def text(value: Value, kind: Kind) -> str:
    """A cell as the page writes it ("" for a figure not shown; the page marks it)."""
    if value is None:
        return ""
    if isinstance(value, Bounds):
        return f"{value.lower:,.1f} to {value.upper:,.1f}"
    if isinstance(value, str):
        return value
    if kind == "count":
        return f"{int(value):,}"
    if kind == "change":
        return f"{int(value):+,}"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind in ("rate", "hours"):
        return f"{value:,.1f}"
    if kind == "number":
        return f"{value:,.2f}"
    return str(value)


def _csv_cells(value: Value, column: Column) -> list[str]:
    if column.kind == "interval":
        if isinstance(value, Bounds):
            return [f"{value.lower:.4f}", f"{value.upper:.4f}"]
        return ["", ""]
    if value is None:
        return ["suppressed" if column.kind == "count" else ""]
    if isinstance(value, float):
        return [f"{value:.4f}"]
    return [str(value)]


def as_csv(table: EvidenceTable) -> str:
    """The table as CSV: codes and labels, then each column (an interval as two columns);
    a suppressed count says "suppressed", a figure not shown is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ["code", "label"]
    for c in table.columns:
        head += [f"{c.key}_lower", f"{c.key}_upper"] if c.kind == "interval" else [c.key]
    writer.writerow(head)
    for row in [*table.rows, *([table.total] if table.total else [])]:
        cells = [row.code, row.label]
        for value, column in zip(row.values, table.columns, strict=True):
            cells += _csv_cells(value, column)
        writer.writerow(cells)
    return out.getvalue()
