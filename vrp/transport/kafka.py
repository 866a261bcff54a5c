"""Apache Kafka transport via aiokafka: idempotent producer, manually committed consumers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, KafkaTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.wiring import TopicPattern
from vrp.store.outbox import OutboxRow
from vrp.transport.base import Message
from vrp.transport.metadata import space_metadata_refreshes

log = logging.getLogger(__name__)


COMMIT_EVERY = 1.0
"""Seconds between offset commits while events keep coming (one round trip to the broker
per batch would cost every event on a busy partition)."""


class KafkaSubscription:
    """A consumer-group member; offsets are committed only after our transaction committed."""

    system = "kafka"

    def __init__(
        self,
        options: dict[str, Any],
        group: str,
        topics: tuple[str, ...],
        client_id: str,
        namespace: str = "",
        patterns: tuple[TopicPattern, ...] = (),
    ) -> None:
        self._ns = namespace
        self._pending: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self._new_consumer = functools.partial(
            _consumer,
            options,
            namespace + group,
            client_id,
            _subscription(namespace, topics, patterns),
        )
        self._consumer = self._new_consumer()
        self._used = False

    async def start(self) -> None:
        """Connect and join the group (again after a failed start or a stop: with a new
        consumer, since aiokafka's cannot be started twice and, once stopped, starts but
        then answers every fetch with ConsumerStoppedError)."""
        if self._used:
            self._consumer = self._new_consumer()
            self._pending.clear()  # the offsets were the old member's; events come again
        self._used = True
        # The consumer's client is private in aiokafka (no public accessor), hence getattr.
        space_metadata_refreshes(getattr(self._consumer, "_client"))  # noqa: B009
        await self._consumer.start()

    async def lag(self) -> int | None:
        """Committed events on this member's partitions it has yet to fetch; None until the
        broker has told it where each partition ends (after its first fetch)."""
        total = 0
        try:
            for tp in self._consumer.assignment():
                end = self._consumer.last_stable_offset(tp)
                if end is None:
                    return None
                total += max(0, end - await self._consumer.position(tp))
        except IllegalStateError:
            return None  # a rebalance took the partition away while we looked
        return total

    async def fetch(self, max_records: int, timeout: float) -> list[Message]:
        """Records from all assigned partitions, in order within each partition."""
        data = await self._consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[Message] = []
        for tp, records in data.items():
            for r in records:
                out.append(
                    Message(
                        topic=tp.topic.removeprefix(self._ns),
                        partition=tp.partition,
                        offset=r.offset,
                        key=r.key.decode() if r.key is not None else None,
                        value=r.value if r.value is not None else b"",
                        headers={k: v.decode(errors="replace") for k, v in r.headers},
                    )
                )
        return out

    async def stage(self, conn: AsyncConnection, batch: list[Message]) -> None:
        """Kafka keeps offsets itself; the inbox table makes redelivery harmless."""

    async def commit(self, batch: list[Message]) -> None:
        """Acknowledge the batch: its offsets are committed with the next commit, at most
        every COMMIT_EVERY seconds (and at once when called with an empty batch, as the
        worker does when idle, or on stop). A commit lost to a crash or a rebalance only
        means those events come again, and the inbox table skips them."""
        for m in batch:
            tp = TopicPartition(self._ns + m.topic, m.partition)
            self._pending[tp] = max(self._pending.get(tp, 0), m.offset + 1)
        if batch and time.monotonic() - self._committed_at < COMMIT_EVERY:
            return
        await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        offsets, self._pending = self._pending, {}
        self._committed_at = time.monotonic()
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions away; their new owner re-reads from the last
            # committed offset and the inbox skips what we already processed.
            log.warning("offset commit failed after rebalance: %s", type(exc).__name__)
        except KafkaError:
            # Not committed: keep them (a later offset of the same partition wins).
            for tp, offset in offsets.items():
                self._pending[tp] = max(self._pending.get(tp, 0), offset)
            raise

    async def stop(self) -> None:
        """Commit what was processed, then leave the group."""
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await self._flush()
        await self._consumer.stop()


class KafkaPublisher:
    """Idempotent producer with acks=all: a row is marked sent only after the broker has it."""

    def __init__(self, options: dict[str, Any], client_id: str, namespace: str = "") -> None:
        self._ns = namespace
        self._options = options
        self._client_id = client_id
        self._producer = self._new_producer()
        self._started = False

    def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **self._options,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            # Fail a send within this time so the relay can react (and, if the producer is
            # in a fatal state after a broker restart, replace it) instead of waiting.
            request_timeout_ms=15_000,
        )
        space_metadata_refreshes(producer.client)
        return producer

    async def start(self) -> None:
        """Connect (raises if the broker is unreachable; publish tries again)."""
        if not self._started:
            try:
                await self._producer.start()
            except (KafkaError, OSError, TimeoutError):
                await self.restart()  # a half-started producer is not started again
                raise
            self._started = True

    async def publish(self, rows: list[OutboxRow], headers: list[dict[str, str]]) -> None:
        """Send every row, then wait for every acknowledgement."""
        await self.start()
        futures = []
        for row, h in zip(rows, headers, strict=True):
            futures.append(
                await self._producer.send(
                    self._ns + row.topic,
                    value=row.value,
                    key=row.key.encode(),
                    headers=[(k, v.encode()) for k, v in h.items()],
                )
            )
        # return_exceptions: wait for every outcome, so nothing is still in flight when the
        # caller replaces this producer; then raise the first failure.
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def ping(self) -> None:
        """Raise KafkaError unless the broker answers a metadata request within 5 s."""
        await self.start()
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=5)
        except TimeoutError:
            raise KafkaTimeoutError("no metadata from the broker in 5 s") from None

    async def restart(self) -> None:
        """Replace the producer (new producer id, fresh sequence numbers).

        After a broker restart an idempotent producer can be left in a state it never leaves
        (out-of-order sequence, unknown producer id); retrying with it loops forever. The
        unacknowledged rows are still unpublished in the outbox and go out on the new one.
        """
        old = self._producer
        self._producer, self._started = self._new_producer(), False
        try:
            await asyncio.wait_for(old.stop(), timeout=5)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.info("discarded producer did not close cleanly (%s)", type(exc).__name__)
            await _abandon(old)

    async def stop(self) -> None:
        """Flush and close."""
        # Also when never started: aiokafka warns about any producer object left unclosed.
        await self._producer.stop()
        self._started = False


async def _abandon(producer: AIOKafkaProducer) -> None:
    """Close a producer whose stop() is stuck waiting for batches an absent broker will
    never acknowledge. Left alone, its sender task retries them in a tight loop (thousands
    of metadata requests a second) for as long as the outage lasts. Its rows are still
    unpublished in the outbox and go out on the replacement. (aiokafka has no public way to
    drop pending batches, hence the private attribute, guarded.)"""
    sender = getattr(producer, "_sender", None)
    with contextlib.suppress(KafkaError, OSError, asyncio.CancelledError):
        if sender is not None:
            await sender.close()
        await producer.client.close()


def _subscription(
    namespace: str, topics: tuple[str, ...], patterns: tuple[TopicPattern, ...]
) -> tuple[str, ...] | str:
    """The topic names to subscribe to, or (with patterns) one regular expression."""
    if not patterns:
        return tuple(namespace + t for t in topics)
    # Kafka subscribes to either names or one pattern: names join the alternation.
    alternatives = [re.escape(namespace + t) for t in topics] + [
        re.escape(namespace + p.prefix) + r"[^.]+" + re.escape(p.suffix) for p in patterns
    ]
    return "^(?:" + "|".join(alternatives) + ")$"


def _consumer(
    options: dict[str, Any], group_id: str, client_id: str, subscription: tuple[str, ...] | str
) -> AIOKafkaConsumer:
    """A new consumer-group member, subscribed, not yet started."""
    consumer = AIOKafkaConsumer(
        **options,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        # Pattern subscriptions discover new topics on each metadata refresh.
        metadata_max_age_ms=30_000,
    )
    if isinstance(subscription, str):
        consumer.subscribe(pattern=subscription)
    else:
        consumer.subscribe(topics=list(subscription))
    return consumer
