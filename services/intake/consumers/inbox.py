"""Intake's consumer of the partner topics: each receiver's inbox, exactly as published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.consumers.locks import lock_referrals
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferral, PartnerReferralCancelled
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referral_timeline
from vrp.transport.worker import Delivery, PoisonEvent, current_topic


class PartnerInboxHandler:
    """Stores each PartnerReferral for its organisation (cancelled if the referral already
    is), and marks entries cancelled on PartnerReferralCancelled."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event from a partner.<org>.referrals topic."""
        await self._handle(conn, [(current_topic.get(), envelope)])

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Handle a batch: one lock statement, then inserts grouped between cancellations."""
        for d in deliveries:
            with d.span():  # each event's consumer span joins its referral's trace
                pass
        await self._handle(conn, [(d.message.topic, d.envelope) for d in deliveries])

    async def _handle(self, conn: AsyncConnection, events: list[tuple[str, Envelope]]) -> None:
        if not events:
            return
        # Lock the referrals first (one order for all of intake's writers), so a concurrent
        # cancellation is either seen here or waits until these entries exist.
        statuses = await lock_referrals(conn, (str(e.data.get("referral_id")) for _, e in events))
        now = datetime.now(UTC)
        pending: list[dict[str, Any]] = []
        # The timeline dates a delivery by when the router published it, which precedes any
        # alert announcing it; this consumer's own clock may run after the notifier's.
        published = {envelope.id: envelope.time for _, envelope in events}
        for topic, envelope in events:
            organisation = topics.partner_of(topic)
            if organisation is None:
                raise PoisonEvent("intake inbox got an event from a non-partner topic")
            if envelope.type == PartnerReferral.TYPE:
                event = envelope.payload(PartnerReferral)
                cancelled = statuses.get(event.referral_id) == ReferralState.CANCELLED
                pending.append(
                    {
                        "referral_id": event.referral_id,
                        "intervention": event.intervention,
                        "organisation": organisation,
                        "reference": event.reference,
                        "event_id": envelope.id,
                        "payload": envelope.data,
                        "status": (
                            RecipientState.CANCELLED if cancelled else RecipientState.AWAITING
                        ),
                        "received_at": now,
                        "updated_at": now,
                    }
                )
            elif envelope.type == PartnerReferralCancelled.TYPE:
                # Entries before this cancellation must exist for it to apply to them.
                await self._store(conn, pending, published)
                pending = []
                gone = envelope.payload(PartnerReferralCancelled)
                await conn.execute(
                    update(received_referrals)
                    .where(
                        received_referrals.c.referral_id == gone.referral_id,
                        received_referrals.c.intervention == gone.intervention,
                        received_referrals.c.organisation == organisation,
                        received_referrals.c.status == RecipientState.AWAITING,
                    )
                    .values(status=RecipientState.CANCELLED, updated_at=now)
                )
            else:
                raise PoisonEvent(f"intake inbox cannot handle event type {envelope.type}")
        await self._store(conn, pending, published)

    async def _store(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], published: dict[str, datetime]
    ) -> None:
        if not rows:
            return
        inserted = await self._db.insert_ignore_returning(
            conn, received_referrals, rows, received_referrals.c.event_id
        )
        delivered = [
            {
                "event_id": r["event_id"],
                "referral_id": r["referral_id"],
                "type": "delivered",
                "at": min(published[r["event_id"]], r["received_at"]),
                "detail": {"organisation": r["organisation"], "intervention": r["intervention"]},
            }
            for r in rows
            if r["event_id"] in inserted
        ]
        if delivered:
            await self._db.insert_ignore_returning(
                conn, referral_timeline, delivered, referral_timeline.c.event_id
            )
