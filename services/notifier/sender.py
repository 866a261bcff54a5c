"""Deliver pending alerts: lease, send on each alert's channel, then record what happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind

from services.notifier.channels import Alert, Channel, DeliveryFailed, Reply
from services.notifier.outcomes import Outcome, Recorder
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.metrics import Metrics
from vrp.store import notifications
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.notifications import Notification
from vrp.store.unit import unit_of_work
from vrp.telemetry import context_from, current_traceparent, tracer
from vrp.transport.outage import Outage, work_until_stopped

log = logging.getLogger(__name__)

# A claim is a lease, renewed while the send is in flight: if the notifier holding it dies,
# another (or its own restart) takes the alert over once the lease runs out.
LEASE = timedelta(seconds=10)
RENEW_EVERY = LEASE.total_seconds() / 3
BATCH = 200
PER_ORGANISATION = 4
"""Concurrent webhook calls (and FHIR replies) to one organisation's own systems. Email and
SMS go to our mail relay and to GOV.UK Notify, so only the overall concurrency bounds them."""
OWN_SYSTEMS = ("webhook", "fhir")
"""Channels to an organisation's own endpoints: bounded per organisation, and disabled after
410 Gone."""


def transport_of(row: Any, config: RoutingConfiguration) -> str:
    """Which transport carries an alert: smtp, notify, webhook or fhir."""
    if row.channel == "sms" or (row.channel == "email" and config.notify.email):
        return "notify"
    if row.channel == "email":
        return "smtp"
    return "fhir" if row.channel == "fhir" else "webhook"


def alert_of(row: Any, config: RoutingConfiguration, public_url: str) -> Alert:
    """The alert a notification row describes (the row is the truth; config adds names)."""
    org = config.organisation(row.organisation)
    d = row.detail or {}
    respond_by = d.get("respond_by")
    # People open the console after signing in: referrers their organisation's view of what
    # they sent, receiving teams the referral in their inbox, the hub its triage. Systems
    # follow the API instead: the alert names both (webhook data: `link` and `api`).
    if row.kind == "status":
        path, api = f"console/sent/{row.referral_id}", f"v1/referrals/{row.referral_id}"
    elif row.organisation == config.hub:
        path, api = f"console/triage/{row.referral_id}", ""
    else:
        path, api = f"console/referrals/{row.referral_id}", f"v1/inbox/{row.referral_id}"
    receiver = config.organisation(d["receiver"]) if d.get("receiver") else None
    return Alert(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        organisation=row.organisation,
        organisation_name=org.name if org else row.organisation,
        address=row.address,
        referral_id=row.referral_id,
        reference=reference(uuid.UUID(row.referral_id)),
        link=f"{public_url}/{path}",
        api=f"{public_url}/{api}" if api else "",
        intervention=d.get("intervention"),
        intervention_title=d.get("intervention_title"),
        urgency=d.get("urgency"),
        risk=d.get("risk"),
        respond_by=datetime.fromisoformat(respond_by) if respond_by else None,
        status=d.get("status"),
        reason=d.get("reason"),
        receiver_name=receiver.name if receiver else None,
        reason_label=_reason_label(config, d) if row.kind == "status" else None,
        reply=Reply.of(d.get("fhir")) if row.channel == "fhir" else None,
    )


_VOCABULARIES = {"completed": "outcomes", "cancelled": "cancel_reasons"}
"""The vocabulary of a status update's coded reason (decline reasons otherwise)."""


def _reason_label(config: RoutingConfiguration, detail: dict[str, Any]) -> str | None:
    reason = detail.get("reason")
    if not reason:
        return None
    vocabulary = _VOCABULARIES.get(str(detail.get("status")), "decline_reasons")
    return config.codes.codes[vocabulary].get(reason)


class AlertSender:
    """Delivers due alerts; safe with several notifier replicas (rows are leased first)."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        configuration: Callable[[], RoutingConfiguration],
        public_url: str,
        poll_interval: float,
        concurrency: int = 16,
        first_retry: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._channels = channels
        self._configuration = configuration
        self._public_url = public_url
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._tracer = tracer("vrp.notifier")
        self._slots = asyncio.Semaphore(concurrency)
        self._org_slots: dict[str, asyncio.Semaphore] = {}
        self._database = Outage("alert sender: database", log)
        self._recorder = Recorder(
            db, configuration, self.wake, self._database, first_retry, metrics
        )

    def wake(self) -> None:
        """Look for due alerts now."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until stopped."""
        try:
            await work_until_stopped(
                lambda: self.deliver_due(stopping=stopping),
                self._wake,
                self._poll,
                stopping,
                self._database,
                DATABASE_ERRORS,
            )
        finally:
            for channel in self._channels.values():
                await channel.close()

    async def deliver_due(self, limit: int = BATCH, stopping: asyncio.Event | None = None) -> int:
        """Lease due alerts, send them concurrently, record the outcomes together; returns
        how many were handled."""
        rows, disabled = await self._claim(limit)
        if not rows:
            return 0
        renewing = asyncio.create_task(self._renew([r.id for r in rows]))
        config = self._configuration()
        try:
            outcomes = await asyncio.gather(*(self._deliver(r, config, disabled) for r in rows))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._recorder.record(outcomes, stopping)
        return len(rows)

    async def _claim(self, limit: int) -> tuple[list[Notification], set[tuple[str, str]]]:
        now = datetime.now(UTC)
        async with unit_of_work(self._db) as unit:
            rows = await notifications.claim_due(unit, now, limit, LEASE)
            if not rows:
                return [], set()
            hooks = {(r.organisation, r.address) for r in rows if r.channel in OWN_SYSTEMS}
            disabled = await notifications.disabled_webhooks(unit, hooks)
        return rows, disabled

    async def _renew(self, ids: list[str]) -> None:
        # Keep the lease while sends are in flight (a slow receiver must not let a second
        # notifier take the same alerts over). A failed renewal is retried on the next tick.
        while True:
            await asyncio.sleep(RENEW_EVERY)
            with contextlib.suppress(*DATABASE_ERRORS):
                async with unit_of_work(self._db, single_statement=True) as unit:
                    await notifications.renew_leases(unit, ids, datetime.now(UTC) + LEASE)

    async def _deliver(
        self, row: Notification, config: RoutingConfiguration, disabled: set[tuple[str, str]]
    ) -> Outcome:
        transport = transport_of(row, config)
        if (row.organisation, row.address) in disabled:
            failure = DeliveryFailed(f"{row.channel} endpoint disabled after 410 Gone", False)
            # The hub was told when the endpoint went; each alert still fails visibly.
            return Outcome(row, transport, failure=failure, attempted=False, report=False)
        channel = self._channels.get(transport)
        if channel is None:
            failure = DeliveryFailed(f"{transport} is not configured", retryable=False)
            return Outcome(row, transport, failure=failure, attempted=False)
        alert = alert_of(row, config, self._public_url)
        own_systems = transport in OWN_SYSTEMS
        slots = (
            self._org_slots.setdefault(row.organisation, asyncio.Semaphore(PER_ORGANISATION))
            if own_systems
            else contextlib.nullcontext()
        )
        async with slots, self._slots:
            with self._tracer.start_as_current_span(
                f"notifier send {row.channel}",
                context=context_from(row.traceparent),
                kind=SpanKind.CLIENT,
                attributes={
                    "vrp.referral_id": row.referral_id,
                    "vrp.notification_id": row.id,
                    "vrp.alert_kind": row.kind,
                    "vrp.transport": transport,
                },
            ):
                started = time.monotonic()
                try:
                    code = await channel.send(alert)
                except DeliveryFailed as exc:
                    return Outcome(row, transport, failure=exc, started=started)
                # The alert-sent event continues the trace from this span.
                return Outcome(
                    row,
                    transport,
                    sent_at=datetime.now(UTC),
                    status_code=code,
                    started=started,
                    traceparent=current_traceparent(),
                )
