"""Embedded transport: consumers read the outbox table as a durable, ordered log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.wiring import TopicPattern
from vrp.store import retention
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.outbox import read_log
from vrp.store.retention import Clock, utc_now
from vrp.store.tables import consumer_positions
from vrp.transport.base import Message
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0
"""Seconds between passes over the log deleting rows every reader is done with."""
PRUNE_PAUSE = 0.1
"""Seconds between passes while a backlog lasts, so writers get the (SQLite) lock."""


class EmbeddedSubscription:
    """Reads rows after its stored position; the position moves in the consumer's transaction,
    so a crash replays nothing twice and loses nothing (SQLite commits in id order)."""

    system = "vrp.outbox"  # the outbox table as the event log, not a broker

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


class LogRetention:
    """Deletes log rows that every consumer group reading their topic has moved past, once
    they are older than `keep` (some carry whole referrals)."""

    def __init__(
        self, db: Database, keep: timedelta, clock: Clock = utc_now, every: float = PRUNE_EVERY
    ) -> None:
        self._db = db
        self._keep = keep
        self._clock = clock
        self._every = every
        self.database = Outage("outbox retention: database", log)

    async def run(self, stopping: asyncio.Event) -> None:
        """Prune every `every` seconds (sooner while a backlog lasts) until stopped."""
        backoff = Backoff()
        while not stopping.is_set():
            try:
                pruned = await retention.prune_consumed(self._db, self._clock(), self._keep)
            except DATABASE_ERRORS as exc:
                self.database.failed(exc)
                await backoff.sleep(stopping)
                continue
            self.database.succeeded()
            backoff.reset()
            if pruned.deleted:
                log.debug("outbox retention: pruned %d rows", pruned.deleted)
            with contextlib.suppress(TimeoutError):
                pause = PRUNE_PAUSE if pruned.more else self._every
                await asyncio.wait_for(stopping.wait(), timeout=pause)
