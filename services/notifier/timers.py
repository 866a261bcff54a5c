"""Stored timers: remind a team that has not accepted, then escalate to the hub and offer
the referral to the fallback intervention. The database row is the truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind

from services.notifier import staging
from services.notifier.staging import EMAIL_ONLY
from vrp.domain.configuration import RoutingConfiguration
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralEscalated
from vrp.metrics import Metrics
from vrp.store import timers
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.notifications import NewAlert
from vrp.store.timers import ANY, Timer
from vrp.store.unit import Unit, unit_of_work
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
        async with unit_of_work(self._db) as unit:
            rows = await timers.claim_due(unit, now, limit)
            if not rows:
                return 0
            stopped = await timers.stopped(unit, {r.referral_id for r in rows})
            fired: list[str] = []
            cancelled: list[str] = []
            alerts: list[NewAlert] = []
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
                    self._fire(unit, config, row, alerts, now)
            breached = [r.intervention for r in rows if r.id in fired and r.kind == "reminder"]
            if breached and self._metrics is not None:
                # A reminder is due when the acceptance SLA has run out without an answer.
                metrics = self._metrics

                def count() -> None:
                    for intervention in breached:
                        metrics.breached(intervention)

                unit.after_commit(count)
            await timers.mark_fired(unit, fired, now)
            await timers.cancel(unit, cancelled)
            await staging.save(unit, alerts, self._wake_sender)
        return len(rows)

    def _fire(
        self,
        unit: Unit,
        config: RoutingConfiguration,
        row: Timer,
        alerts: list[NewAlert],
        now: datetime,
    ) -> None:
        intervention = config.intervention(row.intervention)
        detail = dict(row.detail)
        # The clock decides what is due; the alerts themselves go now, in real time.
        sent = datetime.now(UTC)
        if row.kind == "reminder":
            channels = intervention.channels if intervention else EMAIL_ONLY
            key = f"{row.referral_id}:{row.organisation}:{row.intervention}"
            alerts += staging.alerts(
                config, row.organisation, channels, "reminder", key, row.referral_id, detail, sent
            )
            return
        fallback = intervention.fallback if intervention else None
        original = intervention.on_escalation if intervention else "keep"
        hub = config.organisation(config.hub)
        withdrawn = "; their offer is withdrawn" if original == "withdraw" else ""
        detail.update(status="escalated", reason=f"not accepted by {row.organisation}{withdrawn}")
        # The team's respond-by is past; the hub's copy of the alert has no deadline of its own
        # (an SMS or webhook reading `respond_by` would show one earlier than its own receipt).
        detail.pop("respond_by", None)
        key = f"{row.referral_id}:{config.hub}:{row.intervention}"
        channels = hub.channels if hub else EMAIL_ONLY
        alerts += staging.alerts(
            config, config.hub, channels, "escalation", key, row.referral_id, detail, sent
        )
        # Intake holds the referral: it asks the router to offer it to the fallback, which
        # checks the agreements and minimises afresh (a new disclosure, never a copy).
        event = ReferralEscalated(
            referral_id=row.referral_id,
            organisation=row.organisation,
            intervention=row.intervention,
            fallback=fallback,
            escalated_at=now,
            original_offer=original,
        )
        envelope = Envelope.wrap(event, "/vrp/notifier", row.referral_id)
        unit.event(wiring.NOTIFIER.name, topics.ALERTS, row.referral_id, envelope)
