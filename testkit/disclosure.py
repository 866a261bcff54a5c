"""A reader's view of published figures: what they know adds up, and whether a hidden count
could be other than it is (the proof that it cannot be worked out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Relation = tuple[Sequence[str], int | None]
"""Counts that a published figure says add up to it (None: that figure is not shown)."""


def could_differ(
    truth: Mapping[str, int],
    shown: Mapping[str, int | None],
    relations: Sequence[Relation],
    target: str,
) -> bool:
    """Whether another set of counts (none negative, each hidden one within one of the
    truth) agrees with every shown count and every shown sum, with `target` different."""
    hidden = sorted(k for k, v in shown.items() if v is None)
    assert target in hidden
    order = {k: i for i, k in enumerate(hidden)}
    live = [(list(parts), total) for parts, total in relations if total is not None]
    due: dict[str, list[tuple[list[str], int]]] = {}
    for parts, total in live:
        assert total is not None
        members = [p for p in parts if p in order]
        if not members:
            assert sum(truth[p] for p in parts) == total, (parts, total)
            continue
        due.setdefault(max(members, key=order.__getitem__), []).append((parts, total))
    value = {k: v for k, v in shown.items() if v is not None}

    def search(i: int) -> bool:
        if i == len(hidden):
            return True
        k = hidden[i]
        for step in (-1, 1) if k == target else (0, -1, 1):
            if truth[k] + step < 0:
                continue
            value[k] = truth[k] + step
            holds = all(sum(value[p] for p in parts) == total for parts, total in due.get(k, []))
            if holds and search(i + 1):
                return True
        value.pop(k, None)
        return False

    return search(0)
