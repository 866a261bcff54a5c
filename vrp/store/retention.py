"""Outbox retention: rows that carry whole referrals are deleted once nobody needs them.

Kafka mode: a row is done once its relay published it (Kafka keeps the event from then
on), so the producer's rows published longer ago than the retention period go.

Embedded mode: the outbox is the event log consumers read by position, and no row is ever
marked published. A row goes only once every consumer group that reads its topic (as the
wiring declares them) has moved past it, and it is older than the retention period. A
group with no stored position has read nothing yet, so its topics keep every row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events import wiring
from vrp.events.wiring import Consumer
from vrp.store.database import Database
from vrp.store.outbox import on_topics
from vrp.store.tables import consumer_positions, outbox

Clock = Callable[[], datetime]

PRUNE_BATCH = 500
"""Rows deleted per statement (and transaction), so locks are held only briefly."""
PRUNE_BUDGET = 20
"""Statements per pass, so a backlog is worked off without holding up the caller's loop."""

READERS: tuple[Consumer, ...] = tuple(c for r in wiring.ROLES for c in r.consumers)
"""Every consumer group of every role, whichever roles this process runs."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted, and whether it stopped at its budget with more to do."""

    deleted: int
    more: bool


async def prune_published(
    db: Database,
    producer: str,
    now: datetime,
    keep: timedelta,
    batch: int = PRUNE_BATCH,
    budget: int = PRUNE_BUDGET,
) -> Pruned:
    """Kafka mode: delete the producer's rows published before now - keep."""
    done = and_(outbox.c.producer == producer, outbox.c.published_at < now - keep)
    return await _delete(db, done, batch, budget, ordered=False)


async def prune_consumed(
    db: Database,
    now: datetime,
    keep: timedelta,
    readers: Sequence[Consumer] = READERS,
    batch: int = PRUNE_BATCH,
    budget: int = PRUNE_BUDGET,
) -> Pruned:
    """Embedded mode: delete rows created before now - keep that every reader of their
    topic has moved past."""
    cutoff = now - keep
    async with db.engine.connect() as conn:
        done = await consumed(conn, cutoff, readers)
        await conn.rollback()
    return await _delete(db, done, batch, budget, ordered=True)


async def consumed(
    conn: AsyncConnection, cutoff: datetime, readers: Sequence[Consumer] = READERS
) -> ColumnElement[bool]:
    """Embedded mode: the rows created before cutoff that every reader of their topic has read."""
    # Positions only ever move forward, so reading them before deleting is safe: a
    # consumer can only have read more by the time the rows go.
    t = consumer_positions
    stored = {
        r.consumer: int(r.position) for r in await conn.execute(select(t.c.consumer, t.c.position))
    }
    read_by_all = [
        or_(
            outbox.c.id <= stored.get(c.group, 0),
            not_(on_topics(c.topics, tuple((p.prefix, p.suffix) for p in c.patterns))),
        )
        for c in readers
    ]
    # Ids and creation times rise together (nearly: times are taken before the insert), so
    # the first row too recent to go bounds the scan; without the bound each pass would
    # read the whole retained log to find that nothing more can go.
    first_recent = (
        await conn.execute(
            select(outbox.c.id).where(outbox.c.created_at >= cutoff).order_by(outbox.c.id).limit(1)
        )
    ).scalar()
    bound = [outbox.c.id < first_recent] if first_recent is not None else []
    return and_(outbox.c.created_at < cutoff, *bound, *read_by_all)


async def _delete(
    db: Database, done: ColumnElement[bool], batch: int, budget: int, *, ordered: bool
) -> Pruned:
    chosen = select(outbox.c.id).where(done).limit(batch)
    if ordered:  # oldest first: the scan walks the primary key from the start of the log
        chosen = chosen.order_by(outbox.c.id)
    statement = delete(outbox).where(outbox.c.id.in_(chosen.scalar_subquery()))
    deleted = 0
    for _ in range(budget):
        async with db.transaction(single_statement=True) as conn:
            count = (await conn.execute(statement)).rowcount
        deleted += count
        if count < batch:
            return Pruned(deleted, more=False)
    return Pruned(deleted, more=True)
