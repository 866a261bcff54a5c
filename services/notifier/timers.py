"""Stored timers: remind a team that has not accepted, then escalate to the hub and offer
the referral to the fallback intervention. The database row is the truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.staging import EMAIL_ONLY, Staged
from services.notifier.updates import ANY, STOP
from vrp.domain.configuration import RoutingConfiguration
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralEscalated
from vrp.metrics import Metrics
from vrp.store import outbox
from vrp.store.database import DATABASE_ERRORS, Database, after_commit
from vrp.store.tables import timers
from vrp.telemetry import context_from, tracer
from vrp.transport.outage import Outage, work_until_stopped

log = logging.getLogger(__name__)

BATCH = 200
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


class TimerService:
    """Fires due timers. Each is claimed with its row locked (skip-locked on PostgreSQL) and
    marked fired in the transaction that stages its alerts, so it fires once whatever the
    number of notifiers, and a restart picks up whatever came due while it was down."""

    def __init__(
        self,
        db: Database,
        configuration: Callable[[], RoutingConfiguration],
        wake_sender: Callable[[], None],
        poll_interval: float,
        clock: Clock = system_clock,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._configuration = configuration
        self._wake_sender = wake_sender
        self._poll = poll_interval
        self._clock = clock
        self._tracer = tracer("vrp.notifier")
        self._database = Outage("timers: database", log)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due timers now (tests that move the clock call this)."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Fire due timers until stopped."""
        await work_until_stopped(
            self.fire_due, self._wake, self._poll, stopping, self._database, DATABASE_ERRORS
        )

    async def fire_due(self, limit: int = BATCH) -> int:
        """Fire up to limit due timers in one transaction; returns how many were handled."""
        now = self._clock()
        config = self._configuration()
        async with self._db.transaction() as conn:
            due = (
                select(timers)
                .where(timers.c.status == "waiting", timers.c.due_at <= now)
                .order_by(timers.c.due_at)
                .limit(limit)
            )
            if not self._db.is_sqlite:
                due = due.with_for_update(skip_locked=True)
            rows = list(await conn.execute(due))
            if not rows:
                return 0
            stopped = await _stops(conn, {r.referral_id for r in rows})
            fired, cancelled, staged = [], [], Staged()
            for row in rows:
                if {(row.referral_id, row.intervention), (row.referral_id, ANY)} & stopped:
                    cancelled.append(row.id)
                    continue
                fired.append(row.id)
                with self._tracer.start_as_current_span(
                    f"notifier {row.kind}",
                    context=context_from(row.traceparent),
                    kind=SpanKind.INTERNAL,
                    attributes={"vrp.referral_id": row.referral_id, "vrp.timer_id": row.id},
                ):
                    await self._fire(conn, config, row, staged, now)
            breached = [r.intervention for r in rows if r.id in fired and r.kind == "reminder"]
            if breached and self._metrics is not None:
                # A reminder is due when the acceptance SLA has run out without an answer.
                metrics = self._metrics

                def count() -> None:
                    for intervention in breached:
                        metrics.breached(intervention)

                after_commit(conn, count)
            if fired:
                await conn.execute(
                    update(timers)
                    .where(timers.c.id.in_(fired))
                    .values(status="fired", fired_at=now)
                )
            if cancelled:
                await conn.execute(
                    update(timers).where(timers.c.id.in_(cancelled)).values(status="cancelled")
                )
            if staged.rows:
                after_commit(conn, self._wake_sender)
                await staged.save(self._db, conn)
        return len(rows)

    async def _fire(
        self,
        conn: AsyncConnection,
        config: RoutingConfiguration,
        row: Any,
        staged: Staged,
        now: datetime,
    ) -> None:
        intervention = config.intervention(row.intervention)
        detail = dict(row.detail)
        # The clock decides what is due; the alerts themselves go now, in real time.
        sent = datetime.now(UTC)
        if row.kind == "reminder":
            channels = intervention.channels if intervention else EMAIL_ONLY
            key = f"{row.referral_id}:{row.organisation}:{row.intervention}"
            staged.add(
                config, row.organisation, channels, "reminder", key, row.referral_id, detail, sent
            )
            return
        fallback = intervention.fallback if intervention else None
        hub = config.organisation(config.hub)
        detail.update(status="escalated", reason=f"not accepted by {row.organisation}")
        key = f"{row.referral_id}:{config.hub}:{row.intervention}"
        channels = hub.channels if hub else EMAIL_ONLY
        staged.add(config, config.hub, channels, "escalation", key, row.referral_id, detail, sent)
        # Intake holds the referral: it asks the router to offer it to the fallback, which
        # checks the agreements and minimises afresh (a new disclosure, never a copy).
        event = ReferralEscalated(
            referral_id=row.referral_id,
            organisation=row.organisation,
            intervention=row.intervention,
            fallback=fallback,
            escalated_at=now,
        )
        envelope = Envelope.wrap(event, "/vrp/notifier", row.referral_id)
        await outbox.add(conn, wiring.NOTIFIER.name, topics.ALERTS, row.referral_id, envelope)


async def _stops(conn: AsyncConnection, referral_ids: set[str]) -> set[tuple[str, str]]:
    rows = await conn.execute(
        select(timers.c.referral_id, timers.c.intervention).where(
            timers.c.referral_id.in_(referral_ids), timers.c.kind == STOP
        )
    )
    return {(r.referral_id, r.intervention) for r in rows}
