"""The consumer inbox: an event id is processed once per consumer, whatever redelivers it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.database import Database
from vrp.store.tables import inbox


async def first_delivery(db: Database, conn: AsyncConnection, consumer: str, event_id: str) -> bool:
    """Record the event for this consumer; False when it was already processed."""
    return await db.insert_ignore(
        conn, inbox, consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC)
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
    return await db.insert_ignore_returning(conn, inbox, rows, inbox.c.event_id)
