"""Embedded transport: consumers read the outbox table as a durable, ordered log."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.wiring import TopicPattern
from vrp.store.database import Database
from vrp.store.outbox import read_log
from vrp.store.tables import consumer_positions
from vrp.transport.base import Message


class EmbeddedSubscription:
    """Reads rows after its stored position; the position moves in the consumer's transaction,
    so a crash replays nothing twice and loses nothing (SQLite commits in id order)."""

    def __init__(
        self,
        db: Database,
        consumer: str,
        topics: tuple[str, ...],
        poll_interval: float,
        patterns: tuple[TopicPattern, ...] = (),
    ) -> None:
        self._db = db
        self._consumer = consumer
        self._topics = topics
        self._patterns = tuple((p.prefix, p.suffix) for p in patterns)
        self._poll = poll_interval
        self._position = 0
        self._wake = asyncio.Event()
        db.on_outbox_commit(self._wake.set)

    async def start(self) -> None:
        """Load the stored position (or start from the beginning of the log)."""
        async with self._db.transaction() as conn:
            await self._db.insert_ignore(
                conn, consumer_positions, consumer=self._consumer, position=0
            )
            row = await conn.execute(
                select(consumer_positions.c.position).where(
                    consumer_positions.c.consumer == self._consumer
                )
            )
            self._position = int(row.scalar_one())

    async def fetch(self, max_records: int, timeout: float) -> list[Message]:
        """Rows after the position; waits for a commit notification or the poll interval."""
        self._wake.clear()
        rows = await self._read(max_records)
        if not rows:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(timeout, self._poll))
            rows = await self._read(max_records)
        return rows

    async def _read(self, max_records: int) -> list[Message]:
        async with self._db.engine.connect() as conn:
            rows = await read_log(conn, self._position, self._topics, max_records, self._patterns)
            await conn.rollback()
        return [
            Message(
                topic=r.topic,
                partition=0,
                offset=r.id,
                key=r.key,
                value=r.value,
                headers={"traceparent": r.traceparent} if r.traceparent else {},
            )
            for r in rows
        ]

    async def stage(self, conn: AsyncConnection, batch: list[Message]) -> None:
        """Advance the stored position in the same transaction as the consumer's writes."""
        if batch:
            await conn.execute(
                update(consumer_positions)
                .where(consumer_positions.c.consumer == self._consumer)
                .values(position=batch[-1].offset)
            )

    async def commit(self, batch: list[Message]) -> None:
        """Move the in-memory position once the transaction committed."""
        if batch:
            self._position = batch[-1].offset

    async def stop(self) -> None:
        """Nothing to close."""
