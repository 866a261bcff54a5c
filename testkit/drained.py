"""Waiting until the system has done everything it would do on its own, so that a test can
then assert that something did NOT happen (a second alert, a duplicate referral) without a
fixed sleep that is either too short on a slow machine or a waste on a fast one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import and_, or_, select

from vrp.events import wiring
from vrp.store.database import Database
from vrp.store.tables import notifications, outbox, processed_events


def consumers_of(topic: str) -> list[str]:
    """The consumer groups the wiring subscribes to topic (names without a namespace)."""
    return [
        c.group
        for role in wiring.ROLES
        for c in role.consumers
        if topic in c.topics or any(p.matches(topic) for p in c.patterns)
    ]


async def unfinished(db: Database) -> list[str]:
    """What is still in flight: events some consumer has not processed yet, alerts due."""
    now = datetime.now(UTC)
    async with db.engine.connect() as conn:
        events = list(await conn.execute(select(outbox.c.event_id, outbox.c.topic)))
        done = {
            (r.consumer, r.event_id)
            for r in await conn.execute(
                select(processed_events.c.consumer, processed_events.c.event_id)
            )
        }
        alerts = (
            await conn.execute(
                select(notifications.c.id).where(
                    or_(
                        notifications.c.status == "sending",
                        and_(
                            notifications.c.status == "pending",
                            notifications.c.next_attempt_at <= now,
                        ),
                    )
                )
            )
        ).all()
        await conn.rollback()
    waiting = [
        f"{group} has not processed {e.event_id} ({e.topic})"
        for e in events
        for group in consumers_of(e.topic)
        if (group, e.event_id) not in done
    ]
    return waiting + [f"alert {a.id} is due or being sent" for a in alerts]


async def drained(db: Database, timeout: float = 30.0) -> None:
    """Return once every event is processed by every group that consumes it and no alert is
    due or being sent; fail the test if that takes longer than timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while left := await unfinished(db):
        if loop.time() > deadline:
            pytest.fail(f"not drained after {timeout:g} s: {left[:5]}", pytrace=False)
        await asyncio.sleep(0.05)
