"""Rows staged by a batch of events, inserted with one statement per table."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.audit import Entry
from vrp.events.envelope import Envelope
from vrp.store import audit
from vrp.store.outbox import row_values, staged
from vrp.store.tables import outbox


class Writes:
    """Collects inserts in order; flush() writes them in the caller's transaction."""

    def __init__(self) -> None:
        self._rows: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        self._audit: list[Entry] = []

    def add(self, table: Table, **values: Any) -> None:
        """Stage one row."""
        self._rows[table].append(values)

    def event(self, producer: str, topic: str, key: str, envelope: Envelope) -> str:
        """Stage an outbox event carrying the active span's trace context; returns its id."""
        self.add(outbox, **row_values(producer, topic, key, envelope))
        return envelope.id

    def audit(self, entry: Entry) -> None:
        """Stage one audit record, recorded with the rest (and chained once committed)."""
        self._audit.append(entry)

    async def flush(self, conn: AsyncConnection) -> None:
        """Insert everything staged (outbox last, in staging order; audit records after) and
        clear."""
        tables = sorted(self._rows, key=lambda t: t is outbox)
        postgres = conn.dialect.name == "postgresql"
        for table in tables:
            if postgres:
                await _copy_in(conn, table, self._rows[table])
            else:
                await conn.execute(table.insert(), self._rows[table])
        if outbox in self._rows:
            staged(conn)
        if self._audit:
            await audit.append_many(conn, self._audit)
        self._rows.clear()
        self._audit.clear()


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
