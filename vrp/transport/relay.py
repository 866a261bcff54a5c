"""The outbox relay: publishes a service's committed outbox rows to Kafka, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from contextlib import AbstractContextManager
from datetime import timedelta

from aiokafka.errors import KafkaError, KafkaTimeoutError
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.asyncapi import CONTENT_TYPE
from vrp.store import outbox, retention
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.retention import Clock, Pruned, utc_now
from vrp.telemetry import context_from, span_context_of, tracer
from vrp.transport.base import Publisher
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 10.0  # seconds a batch may wait for the broker's acknowledgements
PING_EVERY = 5.0  # seconds an idle relay waits before checking the broker still answers
PRUNE_EVERY = 60.0  # seconds between passes deleting rows published long enough ago
MAX_LINKS = 32  # traces linked from one publish span beyond its parent (bounded cost)


class Relay:
    """One active relay per producer (a PostgreSQL advisory lock elects it among replicas)."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        producer: str,
        poll_interval: float,
        batch_size: int = 500,
        keep: timedelta | None = None,
        clock: Clock = utc_now,
        prune_every: float = PRUNE_EVERY,
    ) -> None:
        # keep: how long published rows stay (None: for ever), measured by clock; the
        # elected relay deletes older ones every prune_every seconds.
        self._db = db
        self._publisher = publisher
        self._producer = producer
        self._poll = poll_interval
        self._batch = batch_size
        self._wake = asyncio.Event()
        self._tracer = tracer("vrp.relay")
        self.broker = Outage(f"relay {producer}: broker", log)
        self.database = Outage(f"relay {producer}: database", log)
        self._last_contact = 0.0
        self._keep = keep
        self._clock = clock
        self._prune_every = prune_every
        self._next_prune = 0.0
        db.on_outbox_commit(self._wake.set)

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until stopped; rows stay unpublished (and are retried) on any failure."""
        try:
            if self._db.is_sqlite:
                await self._loop(stopping)
            else:
                await self._elected(stopping)
        finally:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await self._publisher.stop()

    async def _elected(self, stopping: asyncio.Event) -> None:
        # The advisory lock lives as long as its connection: if the database restarts, the
        # lock is gone, so stand for election again on a new connection.
        backoff = Backoff()
        while not stopping.is_set():
            try:
                async with self._db.engine.connect() as lock_conn:
                    if await self._elect(lock_conn, stopping):
                        await self._loop(stopping, lock_conn)
                return
            except DATABASE_ERRORS as exc:
                self.database.failed(exc, "standing for election again")
                await backoff.sleep(stopping)

    async def _elect(self, conn: AsyncConnection, stopping: asyncio.Event) -> bool:
        key = zlib.crc32(f"vrp-relay-{self._producer}".encode())
        while not stopping.is_set():
            got = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            if got.scalar():
                await conn.commit()
                return True
            await conn.rollback()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
        return False

    async def _loop(
        self, stopping: asyncio.Event, lock_conn: AsyncConnection | None = None
    ) -> None:
        backoff = Backoff()
        while not stopping.is_set():
            self._wake.clear()
            if not self.broker.healthy:
                # Probe before sending: a send against an absent broker spins inside the
                # client (a metadata request per loop, thousands a second) until it times
                # out; the probe fails at once and the backoff below applies.
                try:
                    await self._publisher.ping()
                except KafkaError as exc:
                    self.broker.failed(exc)
                    await backoff.sleep(stopping)
                    continue
            try:
                sent = await self.publish_once()
                if sent or time.monotonic() - self._last_contact > PING_EVERY:
                    if not sent:  # idle: still find out when the broker goes away
                        await self._publisher.ping()
                    self._last_contact = time.monotonic()
                    self.broker.succeeded()
                if self._keep is not None and time.monotonic() >= self._next_prune:
                    await self.prune_once()
            except KafkaError as exc:
                # Unacknowledged rows stay unpublished. The producer may be in a state it
                # never leaves (out-of-order sequence after a broker restart): replace it.
                self.broker.failed(exc, "replacing the producer and retrying")
                await self._publisher.restart()
                await backoff.sleep(stopping)
                continue
            except DATABASE_ERRORS as exc:
                self.database.failed(exc)
                if lock_conn is not None:
                    # A database restart takes the election lock with the connection
                    # (raises then, and run() stands for election again).
                    await lock_conn.execute(text("SELECT 1"))
                    await lock_conn.rollback()
                await backoff.sleep(stopping)
                continue
            backoff.reset()
            self.database.succeeded()
            if sent < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def prune_once(self) -> Pruned:
        """Delete one budget of this producer's rows published longer ago than `keep`.

        Only the elected relay prunes (it runs inside the loop), so replicas never contend
        for the same rows; a pass that stopped at its budget runs again on the next turn.
        """
        if self._keep is None:
            return Pruned(0, more=False)
        pruned = await retention.prune_published(
            self._db, self._producer, self._clock(), self._keep
        )
        self._next_prune = time.monotonic() + (0.0 if pruned.more else self._prune_every)
        if pruned.deleted:
            log.debug("relay %s: pruned %d published rows", self._producer, pruned.deleted)
        return pruned

    async def publish_once(self) -> int:
        """Publish one batch of pending rows; returns how many were sent."""
        async with self._db.reading() as conn:
            rows = await outbox.unpublished(conn, self._producer, self._batch)
        if not rows:
            return 0
        with self._publishing(rows):
            await self._publish(rows)
        return len(rows)

    def _publishing(self, rows: list[outbox.OutboxRow]) -> AbstractContextManager[Span]:
        """One span per batch, whatever its size: a child of the first row's trace (a
        referral's, in the usual batch of one referral's events), linked to the other
        traces the batch carries. Codes only: producer, topics, batch size."""
        traces: dict[str, str] = {}  # trace id -> the first traceparent of that trace
        for row in rows:
            if row.traceparent and len(traces) <= MAX_LINKS:
                traces.setdefault(row.traceparent[3:35], row.traceparent)
        chain = list(traces.values())
        first, others = (chain[0], chain[1:]) if chain else (None, [])
        topics = sorted({row.topic for row in rows})
        return self._tracer.start_as_current_span(
            f"{self._producer} publish",
            context=context_from(first) if first else Context(),
            kind=SpanKind.PRODUCER,
            links=[Link(span_context_of(tp)) for tp in others],
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.batch.message_count": len(rows),
                "vrp.producer": self._producer,
                "vrp.topics": topics,
                "vrp.traces": len(traces),
            },
        )

    async def _publish(self, rows: list[outbox.OutboxRow]) -> None:
        # Each row carries the trace context of the span that wrote it, so the consumer's
        # span continues that trace (the writer's span is its parent, as it is this one's).
        headers = [
            {
                # Structured mode: no ce_* headers, or CloudEvents SDKs read binary mode.
                "content-type": CONTENT_TYPE,
                **({"traceparent": row.traceparent} if row.traceparent else {}),
            }
            for row in rows
        ]
        try:
            # A send can wait on an absent broker far longer than its own timeouts (metadata,
            # leader elections): bound it, so the outage is noticed and the producer replaced.
            await asyncio.wait_for(self._publisher.publish(rows, headers), PUBLISH_TIMEOUT)
        except TimeoutError:
            raise KafkaTimeoutError(f"not acknowledged within {PUBLISH_TIMEOUT:.0f} s") from None
        async with self._db.transaction(single_statement=True) as conn:
            await outbox.mark_published(conn, [r.id for r in rows])
