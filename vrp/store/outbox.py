"""The transactional outbox: events are rows written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.envelope import Envelope
from vrp.store.database import OUTBOX_WRITTEN
from vrp.store.tables import outbox
from vrp.telemetry import current_traceparent


@dataclass(frozen=True)
class OutboxRow:
    """An event waiting in (or read from) the outbox log."""

    id: int
    event_id: str
    topic: str
    key: str
    value: bytes
    traceparent: str | None


_ROW = (
    outbox.c.id,
    outbox.c.event_id,
    outbox.c.topic,
    outbox.c.key,
    outbox.c.value,
    outbox.c.traceparent,
)


def row_values(producer: str, topic: str, key: str, envelope: Envelope) -> dict[str, Any]:
    """The outbox row for an event, with the current trace context if it carries none."""
    traceparent = envelope.traceparent or current_traceparent()
    if traceparent != envelope.traceparent:
        envelope = envelope.model_copy(update={"traceparent": traceparent})
    return {
        "event_id": envelope.id,
        "producer": producer,
        "topic": topic,
        "key": key,
        "value": envelope.to_bytes(),
        "traceparent": traceparent,
        "created_at": datetime.now(UTC),
    }


def staged(conn: AsyncConnection) -> None:
    """Record that this transaction wrote outbox rows itself (e.g. inside a combined
    statement), so relays and embedded consumers are woken after the commit."""
    conn.info[OUTBOX_WRITTEN] = True


async def add(
    conn: AsyncConnection, producer: str, topic: str, key: str, envelope: Envelope
) -> Envelope:
    """Stage an event for topic, keyed (so one referral's events stay in order)."""
    values = row_values(producer, topic, key, envelope)
    await conn.execute(outbox.insert().values(**values))
    staged(conn)
    if values["traceparent"] != envelope.traceparent:
        envelope = envelope.model_copy(update={"traceparent": values["traceparent"]})
    return envelope


async def unpublished(conn: AsyncConnection, producer: str, limit: int) -> list[OutboxRow]:
    """The producer's oldest unpublished rows, in commit order."""
    rows = await conn.execute(
        select(*_ROW)
        .where(outbox.c.producer == producer, outbox.c.published_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [OutboxRow(*r) for r in rows]


async def mark_published(conn: AsyncConnection, ids: list[int]) -> None:
    """Record that these rows reached the broker."""
    await conn.execute(
        update(outbox).where(outbox.c.id.in_(ids)).values(published_at=datetime.now(UTC))
    )


async def read_log(
    conn: AsyncConnection,
    after: int,
    topics: tuple[str, ...],
    limit: int,
    patterns: tuple[tuple[str, str], ...] = (),
) -> list[OutboxRow]:
    """Embedded mode: rows after a position on the given topics (or topics named
    prefix...suffix for each (prefix, suffix) pattern), in commit order."""
    rows = await conn.execute(
        select(*_ROW)
        .where(outbox.c.id > after, on_topics(topics, patterns))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [OutboxRow(*r) for r in rows]


def on_topics(
    topics: tuple[str, ...], patterns: tuple[tuple[str, str], ...] = ()
) -> ColumnElement[bool]:
    """Rows on these topics or on a topic named prefix...suffix for a (prefix, suffix): what
    an embedded consumer of them reads."""
    return or_(
        outbox.c.topic.in_(topics),
        *(
            and_(
                outbox.c.topic.startswith(prefix, autoescape=True),
                outbox.c.topic.endswith(suffix, autoescape=True),
            )
            for prefix, suffix in patterns
        ),
    )
