"""Demo history (`vrp demo seed`): rows of two years of fictional referrals, written as the
services would have written them, many at a time, and the mark that one was seeded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select

from vrp.store import audit
from vrp.store.evidence_tables import referral_facts
from vrp.store.tables import (
    audit_pending,
    decisions,
    disclosures,
    received_referrals,
    referral_timeline,
    referrals,
    routed,
    subject_index,
)
from vrp.store.unit import Unit

IDEMPOTENCY_PREFIX = "demo-history-"
"""Every seeded referral's idempotency key starts so (no partner's should)."""

Row = dict[str, Any]


@dataclass(slots=True)
class Rows:
    """One batch of history: each table's new rows (audit rows as `audit.pending_row`s)."""

    referrals: list[Row] = field(default_factory=list)
    timeline: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)
    subjects: list[Row] = field(default_factory=list)
    routed: list[Row] = field(default_factory=list)
    disclosures: list[Row] = field(default_factory=list)
    copies: list[Row] = field(default_factory=list)
    audit: list[Row] = field(default_factory=list)
    facts: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[Table, list[Row]]]:
        """Each table with its rows, referrals first."""
        return [
            (referrals, self.referrals),
            (referral_timeline, self.timeline),
            (decisions, self.decisions),
            (subject_index, self.subjects),
            (routed, self.routed),
            (disclosures, self.disclosures),
            (received_referrals, self.copies),
            (audit_pending, self.audit),
            (referral_facts, self.facts),
        ]

    def clear(self) -> None:
        """Empty every table's rows (once they are written)."""
        for _, rows in self.tables():
            rows.clear()

    def counts(self) -> dict[str, int]:
        """Rows per table name."""
        # Audit records wait in audit_pending only until the sealer chains them.
        return {
            "audit_log" if t is audit_pending else t.name: len(rows) for t, rows in self.tables()
        }


async def seeded(unit: Unit) -> int:
    """How many referrals an earlier seeding wrote (0: none)."""
    found = await unit.conn.scalar(
        select(func.count())
        .select_from(referrals)
        .where(referrals.c.idempotency_key.startswith(IDEMPOTENCY_PREFIX))
    )
    return int(found or 0)


async def write(unit: Unit, rows: Rows) -> None:
    """Insert one batch: one multi-row statement per table."""
    for table, values in rows.tables():
        if values:
            await unit.conn.execute(table.insert(), values)
    if rows.audit:
        audit.recorded(unit.conn)
