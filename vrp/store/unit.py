"""The unit of work: one transaction's rows, events, audit records and after-commit callbacks.

Services stage everything they write through a `Unit` and the store's named functions;
they never hold a connection or build a statement. Rows staged with `stage` (and events,
and audit records) are written together by `flush`, one statement per table, which the
unit's context manager calls before it commits; store functions that must see their own
writes (or that return what they wrote) execute at once on `unit.conn`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.audit import Entry
from vrp.events.envelope import Envelope
from vrp.store import audit
from vrp.store.database import Database, after_commit, savepoint
from vrp.store.outbox import row_values, staged
from vrp.store.tables import outbox


class Unit:
    """What one transaction writes, staged in order and flushed together."""

    def __init__(self, db: Database, conn: AsyncConnection, read_only: bool = False) -> None:
        self.db = db
        self.conn = conn
        """The transaction's connection: for functions in vrp/store only."""
        self._read_only = read_only
        self._rows: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        self._audit: list[Entry] = []

    def stage(self, table: Table, **values: Any) -> None:
        """Stage one row of table (for functions in vrp/store)."""
        self._writable()
        self._rows[table].append(values)

    def event(self, producer: str, topic: str, key: str, envelope: Envelope) -> str:
        """Stage an outbox event carrying the active span's trace context; returns its id."""
        self.stage(outbox, **row_values(producer, topic, key, envelope))
        return envelope.id

    def audit(self, entry: Entry) -> None:
        """Stage one audit record, recorded with the rest (and chained once committed)."""
        self._writable()
        self._audit.append(entry)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run callback once this unit has committed (never if it rolls back)."""
        after_commit(self.conn, callback)

    async def flush(self) -> None:
        """Write everything staged (outbox rows last, in staging order; audit records after)
        in this transaction, and forget it."""
        tables = sorted(self._rows, key=lambda t: t is outbox)
        postgres = not self.db.is_sqlite
        for table in tables:
            if postgres:
                await _copy_in(self.conn, table, self._rows[table])
            else:
                await self.conn.execute(table.insert(), self._rows[table])
        if outbox in self._rows:
            staged(self.conn)
        if self._audit:
            await audit.append_many(self.conn, self._audit)
        self._rows.clear()
        self._audit.clear()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested unit: what is staged inside is written at its end, or dropped with the
        savepoint (and its after-commit callbacks) if it raises."""
        await self.flush()
        try:
            async with savepoint(self.conn):
                yield
                await self.flush()
        except BaseException:
            self._rows.clear()
            self._audit.clear()
            raise

    def _writable(self) -> None:
        if self._read_only:
            raise RuntimeError("a reading unit cannot stage writes")


@asynccontextmanager
async def unit_of_work(db: Database, single_statement: bool = False) -> AsyncIterator[Unit]:
    """A transaction as a unit: flushed and committed on success, rolled back on error.

    single_statement: the caller runs exactly one statement and stages nothing (see
    `Database.transaction`).
    """
    async with db.transaction(single_statement) as conn:
        unit = Unit(db, conn)
        yield unit
        await unit.flush()


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[Unit]:
    """A unit for reads only: each statement sees what is committed (see `Database.reading`)."""
    async with db.reading() as conn:
        yield Unit(db, conn, read_only=True)


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[Unit]:
    """A read-only unit whose statements all see one snapshot of the database.

    Under READ COMMITTED each statement sees its own: a decision committed between the
    reads of a referral and of its timeline showed "routed" in the timeline of a referral
    still "received". PostgreSQL: REPEATABLE READ (SQLite serialises writers anyway).
    """
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            await conn.execution_options(isolation_level="REPEATABLE READ")
        yield Unit(db, conn, read_only=True)
        await conn.rollback()


async def _copy_in(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: one prepared INSERT run by asyncpg's executemany, in our transaction.

    SQLAlchemy's generic executemany spends most of a batch's time rendering parameters
    in Python; asyncpg binds them in C.
    """
    columns = [c for c in table.columns if c.name in rows[0]]
    names = ", ".join(f'"{c.name}"' for c in columns)
    params = ", ".join(
        f"${n}::json" if isinstance(c.type, JSON) else f"${n}" for n, c in enumerate(columns, 1)
    )
    json_cols = {c.name for c in columns if isinstance(c.type, JSON)}
    records = [
        tuple(json.dumps(r[c.name]) if c.name in json_cols else r[c.name] for c in columns)
        for r in rows
    ]
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({params})', records)  # noqa: S608 - names from our own metadata
