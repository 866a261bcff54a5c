"""The outbox relay: publishes a service's committed outbox rows to Kafka, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.asyncapi import CONTENT_TYPE
from vrp.store import outbox
from vrp.store.database import Database
from vrp.telemetry import tracer
from vrp.transport.base import Publisher

log = logging.getLogger(__name__)


class Relay:
    """One active relay per producer (a PostgreSQL advisory lock elects it among replicas)."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        producer: str,
        poll_interval: float,
        batch_size: int = 500,
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._producer = producer
        self._poll = poll_interval
        self._batch = batch_size
        self._wake = asyncio.Event()
        self._tracer = tracer("vrp.relay")
        db.on_outbox_commit(self._wake.set)

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until stopped; rows stay unpublished (and are retried) on any failure."""
        await self._publisher.start()
        try:
            if self._db.is_sqlite:
                await self._loop(stopping)
            else:
                async with self._db.engine.connect() as lock_conn:
                    await self._elect(lock_conn, stopping)
                    await self._loop(stopping)
        finally:
            await self._publisher.stop()

    async def _elect(self, conn: AsyncConnection, stopping: asyncio.Event) -> None:
        key = zlib.crc32(f"vrp-relay-{self._producer}".encode())
        while not stopping.is_set():
            got = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            if got.scalar():
                await conn.commit()
                return
            await conn.rollback()
            await asyncio.sleep(1.0)

    async def _loop(self, stopping: asyncio.Event) -> None:
        delay = 0.2
        while not stopping.is_set():
            self._wake.clear()
            try:
                sent = await self.publish_once()
                delay = 0.2
            except (KafkaError, DBAPIError, OSError, TimeoutError) as exc:
                log.warning("relay %s: %s; retrying", self._producer, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if sent < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def publish_once(self) -> int:
        """Publish one batch of pending rows; returns how many were sent."""
        async with self._db.engine.connect() as conn:
            rows = await outbox.unpublished(conn, self._producer, self._batch)
            await conn.rollback()
        if not rows:
            return 0
        # Each row carries the trace context of the span that wrote it, so the consumer's
        # span continues that trace; no per-row span here keeps the relay cheap.
        headers = [
            {
                # Structured mode: no ce_* headers, or CloudEvents SDKs read binary mode.
                "content-type": CONTENT_TYPE,
                **({"traceparent": row.traceparent} if row.traceparent else {}),
            }
            for row in rows
        ]
        await self._publisher.publish(rows, headers)
        async with self._db.transaction() as conn:
            await outbox.mark_published(conn, [r.id for r in rows])
        return len(rows)
