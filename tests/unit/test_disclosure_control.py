"""Small-number suppression for the console's dashboard: no suppressed count can be worked
out from the counts and totals shown beside it."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vrp.domain.disclosure_control import (
    Cell,
    Protected,
    Table,
    median,
    protect,
    protect_counts,
    shown_count,
)

EXAMPLES = int(os.environ.get("VRP_PROPERTY_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _relations(table: Table) -> list[tuple[list[Cell], Cell]]:
    """What a reader knows adds up: (parts, total) for every published total."""
    r, c = table.rows, table.columns
    out: list[tuple[list[Cell], Cell]] = []
    if table.row_totals:
        out += [([(i, j) for j in range(c)], (i, c)) for i in range(r)]
    if table.column_totals:
        out += [([(i, j) for i in range(r)], (r, j)) for j in range(c)]
    if table.row_totals and table.column_totals:
        out += [([(i, c) for i in range(r)], (r, c)), ([(r, j) for j in range(c)], (r, c))]
    return out


def _shown(p: Protected, table: Table) -> dict[Cell, int | None]:
    r, c = table.rows, table.columns
    out: dict[Cell, int | None] = {(i, j): p.cells[i][j] for i in range(r) for j in range(c)}
    out |= {(i, c): v for i, v in enumerate(p.row_totals)}
    out |= {(r, j): v for j, v in enumerate(p.column_totals)}
    if table.row_totals and table.column_totals:
        out[(r, c)] = p.grand_total
    return out


def another_table(table: Table, p: Protected, target: Cell) -> dict[Cell, int] | None:
    """A table a reader cannot tell apart from the true one (every shown count the same,
    every published total adding up, no negative count) in which `target` differs: the
    proof that it cannot be worked out. It searches changes of one in each hidden count
    (the smallest alternatives; finding one is proof enough)."""
    truth = table.published()
    shown = _shown(p, table)
    hidden = sorted(cell for cell, v in shown.items() if v is None)
    relations = _relations(table)
    # Check each relation as soon as its last hidden count has a value.
    due: dict[Cell, list[tuple[list[Cell], Cell]]] = {}
    for parts, total in relations:
        members = [x for x in [*parts, total] if x in set(hidden)]
        last = max(members, key=hidden.index) if members else None
        if last is not None:
            due.setdefault(last, []).append((parts, total))
    value = {cell: v for cell, v in shown.items() if v is not None}

    def holds(parts: list[Cell], total: Cell) -> bool:
        return sum(value[x] for x in parts) == value[total]

    def search(k: int) -> bool:
        if k == len(hidden):
            return True
        cell = hidden[k]
        steps = (-1, 1) if cell == target else (0, -1, 1)
        for step in steps:
            if truth[cell] + step < 0:
                continue
            value[cell] = truth[cell] + step
            if all(holds(parts, total) for parts, total in due.get(cell, [])) and search(k + 1):
                return True
        del value[cell]
        return False

    return dict(value) if search(0) else None


def _tables(max_rows: int, max_columns: int) -> st.SearchStrategy[Table]:
    small = st.integers(0, 12)
    shape = st.tuples(st.integers(1, max_rows), st.integers(1, max_columns))
    return shape.flatmap(
        lambda rc: st.builds(
            Table,
            st.lists(
                st.lists(small, min_size=rc[1], max_size=rc[1]).map(tuple),
                min_size=rc[0],
                max_size=rc[0],
            ).map(tuple),
            st.booleans(),
            st.booleans(),
        )
    )


THRESHOLDS = st.integers(1, 8)


@SETTINGS
@given(_tables(4, 4), THRESHOLDS)
def test_no_suppressed_count_can_be_worked_out(table: Table, threshold: int) -> None:
    p = protect(table, threshold)
    event(f"counts suppressed: {min(len(p.suppressed), 6)}{'+' if len(p.suppressed) > 5 else ''}")
    for cell in p.suppressed:
        assert another_table(table, p, cell) is not None, (cell, p)


@SETTINGS
@given(_tables(4, 4), THRESHOLDS)
def test_small_counts_are_hidden_and_shown_counts_are_true(table: Table, threshold: int) -> None:
    p = protect(table, threshold)
    truth = table.published()
    for cell, v in _shown(p, table).items():
        if 0 < truth[cell] < threshold:
            assert v is None, cell
        if v is not None:
            assert v == truth[cell]
    assert p.suppressed == {cell for cell, v in _shown(p, table).items() if v is None}


@SETTINGS
@given(st.lists(st.integers(0, 20), max_size=8), THRESHOLDS)
def test_a_breakdown_never_has_one_count_suppressed_beside_its_total(
    counts: list[int], threshold: int
) -> None:
    shown, total = protect_counts({f"k{i}": v for i, v in enumerate(counts)}, threshold)
    hidden = [k for k, v in shown.items() if v is None]
    event(f"hidden in the breakdown: {min(len(hidden), 3)}")
    if total is not None:
        assert len(hidden) != 1
    if hidden and total is not None:
        # what the hidden counts add up to is known; with all of them at least one, each
        # can still move by one against another
        assert sum(counts) - sum(v for v in shown.values() if v is not None) >= len(hidden)


def test_the_next_smallest_cell_is_hidden_with_a_small_one() -> None:
    shown, total = protect_counts({"a": 3, "b": 10, "c": 12, "d": 0}, 5)
    assert shown == {"a": None, "b": None, "c": 12, "d": 0}
    assert total == 25


def test_a_small_total_is_hidden_with_its_cells() -> None:
    shown, total = protect_counts({"a": 2, "b": 1, "c": 0}, 5)
    assert shown == {"a": None, "b": None, "c": 0}
    assert total is None


def test_a_two_way_table_hides_a_rectangle_of_cells_not_the_totals() -> None:
    table = Table(((2, 9, 7), (8, 6, 10), (11, 12, 13)), row_totals=True, column_totals=True)
    p = protect(table, 5)
    assert p.row_totals == (18, 24, 36)
    assert p.column_totals == (21, 27, 30)
    assert p.grand_total == 78
    # the 2 with the cheapest three cells that close a rectangle around it: 9, 8 and 6
    assert p.suppressed == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert another_table(table, p, (0, 0)) is not None


def test_the_search_finds_a_count_left_alone_beside_its_total() -> None:
    """The property's check can fail: a naive suppression of small counts only is caught."""
    table = Table(((3, 10, 12),))
    naive = Protected(((None, 10, 12),), (25,), (), None, frozenset({(0, 0)}))
    assert another_table(table, naive, (0, 0)) is None


@pytest.mark.parametrize(
    ("values", "expected"), [([], None), ([5.0], 5.0), ([1.0, 9.0, 3.0], 3.0), ([4.0, 1.0], 2.5)]
)
def test_median(values: list[float], expected: float | None) -> None:
    assert median(values) == expected


def test_a_lone_count() -> None:
    assert [shown_count(v, 5) for v in (0, 1, 4, 5)] == [0, None, None, 5]


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        protect(Table(((1,),)), 0)
    with pytest.raises(ValueError, match="negative"):
        protect(Table(((-1,),)), 5)
