"""Cheap reads for the metrics gauges: the outbox's unpublished rows and consumer lag."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.tables import consumer_positions, outbox


async def unpublished(
    conn: AsyncConnection, producers: list[str], now: datetime | None = None
) -> dict[str, tuple[int, float]]:
    """Per producer: rows the relay has not published yet, and the oldest one's age (s)."""
    now = now or datetime.now(UTC)
    # One statement over ix_outbox_unpublished (producer, published_at, id), which covers it.
    rows = await conn.execute(
        select(outbox.c.producer, func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.producer.in_(producers), outbox.c.published_at.is_(None))
        .group_by(outbox.c.producer)
    )
    found = {r[0]: (int(r[1]), _age(r[2], now)) for r in rows}
    return {p: found.get(p, (0, 0.0)) for p in producers}


async def embedded_lag(conn: AsyncConnection, groups: list[str]) -> dict[str, int]:
    """Per consumer group: log rows after its position (of any topic, so an upper bound)."""
    head = (await conn.execute(select(func.max(outbox.c.id)))).scalar_one_or_none() or 0
    rows = await conn.execute(
        select(consumer_positions.c.consumer, consumer_positions.c.position).where(
            consumer_positions.c.consumer.in_(groups)
        )
    )
    positions = {r[0]: int(r[1]) for r in rows}
    return {g: max(int(head) - positions.get(g, 0), 0) for g in groups}


def _age(created: datetime | None, now: datetime) -> float:
    if created is None:
        return 0.0
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return max((now - created).total_seconds(), 0.0)
