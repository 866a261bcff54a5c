"""Processed events: an event id is handled once per consumer, whatever redelivers it
(the de-duplication that makes at-least-once delivery effectively once)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.database import Database
from vrp.store.tables import processed_events


async def first_delivery(db: Database, conn: AsyncConnection, consumer: str, event_id: str) -> bool:
    """Record the event for this consumer; False when it was already processed."""
    return await db.insert_ignore(
        conn, processed_events, consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC)
    )


async def first_deliveries(
    db: Database, conn: AsyncConnection, consumer: str, event_ids: list[str]
) -> set[str]:
    """Record many events at once; returns the ids not processed before."""
    if not event_ids:
        return set()
    now = datetime.now(UTC)
    rows = [
        {"consumer": consumer, "event_id": e, "processed_at": now} for e in dict.fromkeys(event_ids)
    ]
    return await db.insert_ignore_returning(
        conn, processed_events, rows, processed_events.c.event_id
    )
