"""Originals of dead-lettered events, kept apart from the dead-letter topic because they may
hold personal data (only whoever may read the database reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.identifiers import new_id
from vrp.store.tables import dead_letter_originals


@dataclass(frozen=True)
class DeadLetterOriginal:
    """One dead-lettered event as it arrived, with where it came from and why."""

    id: str
    event_id: str | None
    consumer: str
    topic: str
    position: str
    original: bytes
    reason: str
    created_at: datetime


async def keep_original(
    conn: AsyncConnection,
    *,
    consumer: str,
    topic: str,
    position: str,
    event_id: str | None,
    original: bytes,
    reason: str,
) -> str:
    """Store the original in the caller's transaction; returns the reference to publish."""
    ref = str(new_id())
    await conn.execute(
        dead_letter_originals.insert().values(
            id=ref,
            event_id=event_id,
            consumer=consumer,
            topic=topic,
            position=position,
            original=original,
            reason=reason,
            created_at=datetime.now(UTC),
        )
    )
    return ref


async def original(conn: AsyncConnection, ref: str) -> DeadLetterOriginal | None:
    """The stored original a dead letter refers to, or None."""
    t = dead_letter_originals
    row = (
        await conn.execute(
            select(
                t.c.id,
                t.c.event_id,
                t.c.consumer,
                t.c.topic,
                t.c.position,
                t.c.original,
                t.c.reason,
                t.c.created_at,
            ).where(t.c.id == ref)
        )
    ).first()
    return DeadLetterOriginal(*row) if row else None
