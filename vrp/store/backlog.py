"""Cheap reads for the metrics gauges: the outbox's unpublished rows per producer (embedded
consumer lag is `vrp.store.status.unread`, as `vrp status` counts it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.tables import outbox


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


def _age(created: datetime | None, now: datetime) -> float:
    if created is None:
        return 0.0
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return max((now - created).total_seconds(), 0.0)
