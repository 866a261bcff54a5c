"""The facts each stored decision was made on, read back in batches for `vrp rules
simulate` to decide again under another configuration (nothing is written)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from vrp.store.tables import decisions
from vrp.store.unit import Unit

_STORED = decisions.c.facts.is_not(None)  # decisions cancelled before routing have none


@dataclass(frozen=True, slots=True)
class DecidedFacts:
    """One stored decision: its outcome, the interventions chosen, and the facts (JSON)."""

    outcome: str
    chosen: str | None  # intervention ids, space-separated
    facts: dict[str, Any]


async def count(unit: Unit) -> int:
    """How many stored decisions have facts."""
    return int(await unit.conn.scalar(select(func.count()).where(_STORED)) or 0)


async def batches(unit: Unit, size: int) -> AsyncIterator[list[DecidedFacts]]:
    """Every stored decision with facts, `size` at a time (unit: from unit_of_work)."""
    # Streamed from a server-side cursor, which PostgreSQL keeps only inside a transaction:
    # a reading unit (autocommit) cannot hold one.
    query = select(decisions.c.outcome, decisions.c.chosen, decisions.c.facts).where(_STORED)
    result = await unit.conn.stream(query.execution_options(yield_per=size))
    async for rows in result.partitions(size):
        yield [DecidedFacts(outcome, chosen, facts) for outcome, chosen, facts in rows]
