"""Record what each delivery attempt did: the attempt itself, the alert's new state, its
alert-sent event, and the hub's alert when a delivery fails for good."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.notifier import staging
from services.notifier.channels import DeliveryFailed
from services.notifier.staging import EMAIL_ONLY, FROM_RECEIPT
from vrp.domain.configuration import RoutingConfiguration
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent
from vrp.metrics import Metrics
from vrp.store import notifications, referrals
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.notifications import Attempt, NewAlert, Notification
from vrp.store.unit import Unit, unit_of_work
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)

PRODUCER = wiring.NOTIFIER.name
MAX_ATTEMPTS = 8
MAX_BACKOFF = 900.0


@dataclass
class Outcome:
    """What one attempt at one alert did."""

    row: Notification
    transport: str
    sent_at: datetime | None = None
    status_code: int | None = None
    failure: DeliveryFailed | None = None
    started: float = 0.0
    attempted: bool = True
    report: bool = True
    """Whether a permanent failure is raised to the hub (not when already reported)."""
    traceparent: str | None = None
    ended: float = 0.0

    def __post_init__(self) -> None:
        self.ended = time.monotonic()

    @property
    def latency_ms(self) -> int:
        """How long the channel took to answer."""
        return round((self.ended - self.started) * 1000) if self.attempted else 0

    @property
    def retrying(self) -> bool:
        """Failed, may succeed later, and has attempts left."""
        f = self.failure
        return f is not None and f.retryable and self.row.attempts + 1 < MAX_ATTEMPTS


def retry_delay(attempts: int, retry_after: float | None, first: float = 2.0) -> float:
    """Exponential backoff with jitter from `first` seconds, never sooner than the receiver
    asked (within reason: a Retry-After of days would leave the team unalerted)."""
    delay = min(first * 2.0 ** (attempts - 1), MAX_BACKOFF) * random.uniform(0.8, 1.2)
    return max(delay, min(retry_after or 0.0, MAX_BACKOFF))


class Recorder:
    """Writes a batch's outcomes in one transaction, through database outages."""

    def __init__(
        self,
        db: Database,
        configuration: Callable[[], RoutingConfiguration],
        wake: Callable[[], None],
        database: Outage,
        first_retry: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._first_retry = first_retry
        self._configuration = configuration
        self._wake = wake
        self._database = database
        self._channels: dict[str, Outage] = {}

    async def record(self, outcomes: list[Outcome], stopping: asyncio.Event | None) -> None:
        """Record outcomes; what was sent must be recorded, or it is sent again when the
        lease runs out, so keep trying through a database outage unless stopping."""
        backoff = Backoff()
        while True:
            try:
                async with unit_of_work(self._db) as unit:
                    await self._write(unit, outcomes)
                return
            except DATABASE_ERRORS as exc:
                self._database.failed(exc, "holding the outcomes and retrying")
                if stopping is None or stopping.is_set():
                    raise
                await backoff.sleep(stopping)

    def _outage(self, transport: str) -> Outage:
        return self._channels.setdefault(transport, Outage(f"alert sender: {transport}", log))

    async def _write(self, unit: Unit, outcomes: list[Outcome]) -> None:
        now = datetime.now(UTC)
        attempts = [
            Attempt(
                notification_id=o.row.id,
                attempt=o.row.attempts + 1,
                channel=o.row.channel,
                outcome=_verdict(o),
                status_code=o.failure.status_code if o.failure else o.status_code,
                latency_ms=o.latency_ms,
                error=str(o.failure) if o.failure else None,
                at=now,
            )
            for o in outcomes
        ]
        notifications.record_attempts(unit, attempts)
        await self._follow_channels(unit, outcomes, now)
        await self._sent(unit, [o for o in outcomes if o.sent_at is not None], now)
        alerts: list[NewAlert] = []
        config = self._configuration()
        gave_up: set[str] = set()
        for o in outcomes:
            if o.failure is not None and await self._failed(unit, o, config, alerts, now):
                gave_up.add(o.row.id)
        if self._metrics is not None:
            metrics = self._metrics
            counted = [
                (o.row.channel, a.outcome, o.row.id in gave_up)
                for o, a in zip(outcomes, attempts, strict=True)
            ]

            def count() -> None:
                for channel, verdict, failed in counted:
                    metrics.attempted(channel, verdict, failed)

            # After the commit: a write retried through a database outage counts once.
            unit.after_commit(count)
        await staging.save(unit, alerts, self._wake)

    async def _follow_channels(self, unit: Unit, outcomes: list[Outcome], now: datetime) -> None:
        by_transport: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.attempted:
                by_transport.setdefault(o.transport, []).append(o)
        for transport, group in by_transport.items():
            outage = self._outage(transport)
            sent = [o for o in group if o.sent_at is not None]
            failing = [o for o in group if o.failure is not None and o.failure.retryable]
            if failing and not sent:
                outage.failed(str(failing[0].failure), "backing off per alert")
            elif sent and not outage.healthy:
                outage.succeeded()
                # The channel is back: what failed while it was away goes now, not at the
                # end of each alert's own backoff (up to minutes).
                await notifications.hasten_retries(unit, {o.row.channel for o in sent}, now)
                unit.after_commit(self._wake)

    async def _sent(self, unit: Unit, sent: list[Outcome], now: datetime) -> None:
        # Only rows still ours get their alert-sent event (see mark_sent).
        marked = await notifications.mark_sent(unit, [o.row.id for o in sent], now)
        for o in sent:
            channel = o.row.channel
            if o.row.id not in marked or o.sent_at is None:
                continue
            if channel == "fhir":
                # A reply to the referrer's system, not an alert to a team: alert-sent v1 has
                # no such channel, and intake's timeline would take it for the team's alert.
                continue
            event = AlertSent(
                referral_id=o.row.referral_id,
                notification_id=o.row.id,
                organisation=o.row.organisation,
                channel=channel,
                kind=o.row.kind,
                sent_at=o.sent_at,
            )
            # The event continues the trace from the send's span.
            envelope = Envelope.wrap(event, "/vrp/notifier", o.row.referral_id).model_copy(
                update={"traceparent": o.traceparent}
            )
            unit.event(PRODUCER, topics.ALERTS, o.row.referral_id, envelope)
        await self._time_from_receipt(unit, [o for o in sent if o.row.id in marked])

    async def _time_from_receipt(self, unit: Unit, delivered: list[Outcome]) -> None:
        """Receipt to first delivery of each first-decision new-referral alert (once per
        alert: only the attempt that marked it sent gets here), counted after commit."""
        timed = [
            o
            for o in delivered
            if o.row.kind == "new-referral" and (o.row.detail or {}).get(FROM_RECEIPT)
        ]
        if self._metrics is None or not timed:
            return
        metrics = self._metrics
        received = await referrals.received_at(unit, [o.row.referral_id for o in timed])
        latencies = [
            (o.row.channel, (o.sent_at - received[o.row.referral_id]).total_seconds())
            for o in timed
            if o.sent_at is not None and o.row.referral_id in received
        ]

        def observe() -> None:
            for channel, seconds in latencies:
                metrics.alerted(channel, seconds)

        unit.after_commit(observe)

    async def _failed(
        self,
        unit: Unit,
        o: Outcome,
        config: RoutingConfiguration,
        alerts: list[NewAlert],
        now: datetime,
    ) -> bool:
        """Schedule the retry, or give up (True) and tell the hub."""
        assert o.failure is not None
        attempts = o.row.attempts + 1
        give_up = not o.retrying
        delay = retry_delay(attempts, o.failure.retry_after, self._first_retry)
        ours = await notifications.record_failure(
            unit, o.row.id, str(o.failure), now + timedelta(seconds=delay), give_up
        )
        if not give_up or not ours:
            return False  # retried later (summarised by the channel's outage log), or not ours
        log.warning(
            "alert %s failed for good (%s) after %d attempts", o.row.id, o.failure, attempts
        )
        if o.failure.gone:
            await notifications.disable_webhook(
                unit, o.row.organisation, o.row.address, now, str(o.failure)
            )
            log.warning(
                "%s endpoint of %s disabled after 410 Gone", o.row.channel, o.row.organisation
            )
        if o.row.kind == "delivery-failed" or not o.report:
            return True  # never alert about an alert about a failure, nor twice about one cause
        hub = config.organisation(config.hub)
        detail = {
            "intervention": (o.row.detail or {}).get("intervention"),
            "status": "failed",
            "reason": f"{o.failure} ({o.row.organisation}, {o.row.channel}, {o.row.kind})",
        }
        alerts += staging.alerts(
            config,
            config.hub,
            hub.channels if hub else EMAIL_ONLY,
            "delivery-failed",
            f"{o.row.id}:{config.hub}",
            o.row.referral_id,
            detail,
            now,
        )
        return True


def _verdict(o: Outcome) -> str:
    if o.sent_at is not None:
        return "sent"
    if not o.attempted:
        return "skipped"
    assert o.failure is not None
    if o.failure.gone:
        return "gone"
    return "retry" if o.retrying else "failed"
