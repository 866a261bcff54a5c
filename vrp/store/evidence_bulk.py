"""Bulk loading of the evidence tables for the benchmark (bench/evidence.py): PostgreSQL's
COPY through asyncpg, a chunk of rows at a time, and the plain GROUP BY every evidence
figure is timed against."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, func, select, text

from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, populations, referral_facts
from vrp.store.tables import received_referrals
from vrp.store.unit import reading

EVIDENCE_TABLES: tuple[Table, ...] = (referral_facts, received_referrals, populations, deprivation)


async def empty(db: Database) -> None:
    """Remove every row of the evidence tables (PostgreSQL)."""
    names = ", ".join(t.name for t in EVIDENCE_TABLES)
    async with db.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {names}"))


async def copy(db: Database, table: Table, columns: Sequence[str], rows: Iterable[Any]) -> None:
    """COPY rows (tuples in `columns` order) into a table, in one transaction."""
    async with db.transaction() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=rows, columns=list(columns)
        )


async def analyze(db: Database) -> None:
    """Refresh the planner's statistics of the evidence tables after a load."""
    async with db.reading() as conn:
        for table in EVIDENCE_TABLES:
            await conn.execute(text(f"ANALYZE {table.name}"))


async def count_by_area(db: Database) -> int:
    """The baseline: `SELECT local_authority, COUNT(*) FROM referral_facts GROUP BY 1`;
    how many groups it returned."""
    stmt = select(referral_facts.c.local_authority, func.count()).group_by(
        referral_facts.c.local_authority
    )
    async with reading(db) as unit:
        return len((await unit.conn.execute(stmt)).all())


async def count(db: Database) -> int:
    """How many referrals' facts the database holds."""
    async with reading(db) as unit:
        return int(await unit.conn.scalar(select(func.count()).select_from(referral_facts)) or 0)
