"""The router's event handler: received referrals, fallback offers, cancellations and
receivers' responses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.followup import cancel, record_response
from services.router.routing import RoutingBatch, reoffer, route
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision
from vrp.domain.referral import Referral
from vrp.events.envelope import Envelope
from vrp.events.models import (
    ReferralCancelled,
    ReferralReceived,
    ReferralReoffered,
    ReferralResponded,
)
from vrp.metrics import Metrics
from vrp.store.database import after_commit
from vrp.transport.worker import Delivery, PoisonEvent


class RouterHandler:
    """Dispatches on event type; configuration comes from a provider so it can hot-reload."""

    def __init__(
        self,
        configuration: Callable[[], RoutingConfiguration],
        key: bytes,
        metrics: Metrics | None = None,
    ) -> None:
        self._configuration = configuration
        self._key = key
        self._metrics = metrics

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event from the received or status topics."""
        if envelope.type == ReferralReceived.TYPE:
            referral = envelope.payload(ReferralReceived).referral
            decision = await route(conn, self._configuration(), self._key, referral, envelope.id)
            self._count(conn, referral, decision)
        elif envelope.type == ReferralReoffered.TYPE:
            offered = envelope.payload(ReferralReoffered)
            await reoffer(conn, self._configuration(), self._key, offered)
        elif envelope.type == ReferralCancelled.TYPE:
            await cancel(conn, self._configuration(), envelope.payload(ReferralCancelled))
        elif envelope.type == ReferralResponded.TYPE:
            await record_response(conn, envelope.payload(ReferralResponded))
        else:
            raise PoisonEvent(f"router cannot handle event type {envelope.type}")

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Route runs of received referrals together; other events one by one, in order."""
        run: list[Delivery] = []
        for d in deliveries:
            if d.envelope.type == ReferralReceived.TYPE:
                run.append(d)
                continue
            await self._route_run(conn, run)
            run = []
            with d.span():
                await self(conn, d.envelope)
        await self._route_run(conn, run)

    async def _route_run(self, conn: AsyncConnection, run: list[Delivery]) -> None:
        if not run:
            return
        batch = RoutingBatch(self._configuration(), self._key)
        referrals = [d.envelope.payload(ReferralReceived).referral for d in run]
        await batch.prepare(conn, referrals)
        for d, referral in zip(run, referrals, strict=True):
            with d.span():
                self._count(conn, referral, batch.route(referral, d.envelope.id))
        await batch.flush(conn)

    def _count(self, conn: AsyncConnection, referral: Referral, decision: Decision | None) -> None:
        # Counted once committed, so a batch retried after a database error counts once.
        if self._metrics is None or decision is None:
            return
        metrics = self._metrics
        received = datetime.fromisoformat(referral.received_at)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        seconds = (datetime.now(UTC) - received).total_seconds()
        after_commit(conn, lambda: metrics.decided(decision, seconds))
