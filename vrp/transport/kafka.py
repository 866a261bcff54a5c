"""Apache Kafka transport via aiokafka: idempotent producer, manually committed consumers."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.outbox import OutboxRow
from vrp.transport.base import Message, TopicPattern

log = logging.getLogger(__name__)


class KafkaSubscription:
    """A consumer-group member; offsets are committed only after our transaction committed."""

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
        self._consumer = AIOKafkaConsumer(
            **options,
            group_id=namespace + group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            # Pattern subscriptions discover new topics on each metadata refresh.
            metadata_max_age_ms=30_000,
        )
        if patterns:
            # Kafka subscribes to either names or one pattern: names join the alternation.
            alternatives = [re.escape(namespace + t) for t in topics] + [
                re.escape(namespace + p.prefix) + r"[^.]+" + re.escape(p.suffix) for p in patterns
            ]
            self._consumer.subscribe(pattern="^(?:" + "|".join(alternatives) + ")$")
        else:
            self._consumer.subscribe(topics=[namespace + t for t in topics])

    async def start(self) -> None:
        """Connect and join the group."""
        await self._consumer.start()

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
        """Commit the next offset of every partition in the batch."""
        offsets: dict[TopicPartition, int] = {}
        for m in batch:
            tp = TopicPartition(self._ns + m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions away; their new owner re-reads from the last
            # committed offset and the inbox skips what we already processed.
            log.warning("offset commit failed after rebalance: %s", type(exc).__name__)

    async def stop(self) -> None:
        """Leave the group."""
        await self._consumer.stop()


class KafkaPublisher:
    """Idempotent producer with acks=all: a row is marked sent only after the broker has it."""

    def __init__(self, options: dict[str, Any], client_id: str, namespace: str = "") -> None:
        self._ns = namespace
        self._producer = AIOKafkaProducer(
            **options,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
        )

    async def start(self) -> None:
        """Connect."""
        await self._producer.start()

    async def publish(self, rows: list[OutboxRow], headers: list[dict[str, str]]) -> None:
        """Send every row, then wait for every acknowledgement."""
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
        await asyncio.gather(*futures)

    async def stop(self) -> None:
        """Flush and close."""
        await self._producer.stop()
