"""Statistical disclosure control for published counts: small numbers are suppressed, and
enough other counts with them that none can be worked out from the totals shown beside it.

A table is read as a graph. Each published count (a cell, a row or column total, the grand
total) is an edge between its row and its column; every row or column whose total is
published is a node whose edges must add up (a cell counts +, its total -). Any change to
the hidden counts that keeps every published total right therefore runs around a cycle of
hidden edges, adding and taking away one in turn. So a hidden count can be worked out
exactly when, and only when, it lies on no cycle of hidden counts that can all move by one.
Rows or columns with nothing published to add up to constrain nothing, so they are merged
into one free node (a path between two of them is as good as a cycle).

`protect` hides every count from 1 to threshold - 1, then puts each hidden count on a cycle
of hidden, non-zero counts (so all can move by one either way), choosing the cheapest: the
smallest counts, and totals only when no cells will do. Zeros are shown: they disclose
nobody, and hiding one would make a poor complement (it cannot move down).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Cell = tuple[int, int]
"""(row, column) in the table extended by its totals: row `rows` holds the column totals,
column `columns` the row totals, and (rows, columns) the grand total."""

_FREE = ("free", -1)


@dataclass(frozen=True, slots=True)
class Table:
    """Counts in rows and columns, and which totals will be published beside them (the
    grand total is published when both are)."""

    cells: tuple[tuple[int, ...], ...]
    row_totals: bool = True
    column_totals: bool = False

    @property
    def rows(self) -> int:
        """How many rows of cells."""
        return len(self.cells)

    @property
    def columns(self) -> int:
        """How many columns of cells."""
        return len(self.cells[0]) if self.cells else 0

    def published(self) -> dict[Cell, int]:
        """Every count the table publishes, cells and totals, by extended position."""
        r, c = self.rows, self.columns
        out: dict[Cell, int] = {(i, j): self.cells[i][j] for i in range(r) for j in range(c)}
        if self.row_totals:
            out |= {(i, c): sum(self.cells[i]) for i in range(r)}
        if self.column_totals:
            out |= {(r, j): sum(row[j] for row in self.cells) for j in range(c)}
        if self.row_totals and self.column_totals:
            out[(r, c)] = sum(map(sum, self.cells))
        return out


@dataclass(frozen=True, slots=True)
class Protected:
    """A table as it may be published: None where a count is suppressed. Totals that are
    not published are empty (or None for the grand total)."""

    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    grand_total: int | None
    suppressed: frozenset[Cell]


def _invalid(table: Table, threshold: int) -> str | None:
    if threshold < 1:
        return "the threshold must be at least 1"
    if any(len(row) != table.columns for row in table.cells):
        return "every row must have the same number of cells"
    if any(v < 0 for row in table.cells for v in row):
        return "counts cannot be negative"
    return None


def protect(table: Table, threshold: int) -> Protected:
    """The table with every count below `threshold` (but above zero) suppressed, and with
    it enough others that no suppressed count follows from the shown counts and totals."""
    problem = _invalid(table, threshold)
    if problem:
        raise ValueError(problem)
    values = table.published()
    hidden = {cell for cell, v in values.items() if 0 < v < threshold}
    for cell in sorted(hidden, key=lambda c: (values[c], c)):
        if not _on_hidden_cycle(table, cell, hidden):
            hidden |= _cheapest_cycle(table, cell, values, hidden)
    return _published(table, values, frozenset(hidden))


def protect_counts(
    counts: Mapping[str, int], threshold: int
) -> tuple[dict[str, int | None], int | None]:
    """A one-way breakdown and its total, protected: `(counts, total)` with None where
    suppressed. Keys keep their order."""
    keys = list(counts)
    result = protect(Table((tuple(counts[k] for k in keys),)), threshold)
    shown = dict(zip(keys, result.cells[0] if keys else (), strict=True))
    total = result.row_totals[0] if keys else 0
    return shown, total


def _node(table: Table, cell: Cell, side: int) -> tuple[str, int]:
    """The row (side 0) or column (side 1) a count belongs to, or the free node when
    nothing published constrains that row or column."""
    r, c = table.rows, table.columns
    both = table.row_totals and table.column_totals
    if side == 0:
        i = cell[0]
        constrained = both if i == r else table.row_totals
        return ("row", i) if constrained else _FREE
    j = cell[1]
    constrained = both if j == c else table.column_totals
    return ("column", j) if constrained else _FREE


def _ends(table: Table, cell: Cell) -> tuple[tuple[str, int], tuple[str, int]]:
    return _node(table, cell, 0), _node(table, cell, 1)


def _on_hidden_cycle(table: Table, cell: Cell, hidden: set[Cell]) -> bool:
    """Whether the hidden counts other than `cell` connect its two ends."""
    start, goal = _ends(table, cell)
    if start == goal:
        return True  # nothing published constrains it (or both ends are free)
    edges = [c for c in hidden if c != cell]
    reached = {start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for other in edges:
            a, b = _ends(table, other)
            for here, there in ((a, b), (b, a)):
                if here == node and there not in reached:
                    reached.add(there)
                    frontier.append(there)
    return goal in reached


def _cheapest_cycle(
    table: Table, cell: Cell, values: Mapping[Cell, int], hidden: set[Cell]
) -> set[Cell]:
    """The counts to hide so that `cell` lies on a cycle of hidden non-zero counts: the
    cheapest path between its ends (hidden counts cost nothing, cells their value, totals
    more than all the cells together), or every count if there is none."""
    margin = table.rows, table.columns
    penalty = sum(v for (i, j), v in values.items() if i < margin[0] and j < margin[1]) + 1

    def cost(c: Cell) -> int:
        if c in hidden:
            return 0
        return values[c] + (penalty if c[0] == margin[0] or c[1] == margin[1] else 0)

    usable = [c for c in values if c != cell and (c in hidden or values[c] > 0)]
    start, goal = _ends(table, cell)
    best: dict[tuple[str, int], int] = {start: 0}
    via: dict[tuple[str, int], tuple[Cell, tuple[str, int]]] = {}
    queue: list[tuple[int, int, tuple[str, int]]] = [(0, 0, start)]
    order = 0
    while queue:
        dist, _, node = heapq.heappop(queue)
        if node == goal:
            break
        if dist > best.get(node, dist):
            continue
        for edge in usable:
            a, b = _ends(table, edge)
            nxt = b if a == node else a if b == node else None
            if nxt is None:
                continue
            candidate = dist + cost(edge)
            if candidate < best.get(nxt, candidate + 1):
                best[nxt] = candidate
                via[nxt] = (edge, node)
                order += 1
                heapq.heappush(queue, (candidate, order, nxt))
    if goal not in best:
        return set(values)  # cannot happen for counts of at least one; hide all to be safe
    path: set[Cell] = set()
    node = goal
    while node != start:
        edge, node = via[node]
        path.add(edge)
    return path


def _published(table: Table, values: Mapping[Cell, int], hidden: frozenset[Cell]) -> Protected:
    r, c = table.rows, table.columns

    def shown(cell: Cell) -> int | None:
        return None if cell in hidden else values[cell]

    both = table.row_totals and table.column_totals
    return Protected(
        cells=tuple(tuple(shown((i, j)) for j in range(c)) for i in range(r)),
        row_totals=tuple(shown((i, c)) for i in range(r)) if table.row_totals else (),
        column_totals=tuple(shown((r, j)) for j in range(c)) if table.column_totals else (),
        grand_total=shown((r, c)) if both else None,
        suppressed=hidden,
    )


def shown_count(value: int, threshold: int) -> int | None:
    """A lone count with no totals beside it: None when it is small (but not zero)."""
    return None if 0 < value < threshold else value


def median(values: Iterable[float]) -> float | None:
    """The middle value (the mean of the middle two for an even count), None when empty."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
