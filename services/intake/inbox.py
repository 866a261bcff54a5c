"""Intake's consumer of the partner topics: each receiver's inbox, exactly as published."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferral, PartnerReferralCancelled
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referral_timeline, referrals
from vrp.transport.base import TopicPattern
from vrp.transport.worker import PoisonEvent, current_topic

PARTNER_TOPICS = TopicPattern(topics.PARTNER_PREFIX, topics.PARTNER_SUFFIX)


class PartnerInboxHandler:
    """Stores each PartnerReferral for its organisation (cancelled if the referral already
    is), and marks entries cancelled on PartnerReferralCancelled."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event from a partner.<org>.referrals topic."""
        organisation = topics.partner_of(current_topic.get())
        if organisation is None:
            raise PoisonEvent("intake inbox got an event from a non-partner topic")
        now = datetime.now(UTC)
        if envelope.type == PartnerReferral.TYPE:
            event = envelope.payload(PartnerReferral)
            # Lock the referral row so a concurrent cancellation is seen or waits for us.
            status = (
                await conn.execute(
                    select(referrals.c.status)
                    .where(referrals.c.id == event.referral_id)
                    .with_for_update()
                )
            ).scalar()
            cancelled = status == ReferralState.CANCELLED
            inserted = await self._db.insert_ignore(
                conn,
                received_referrals,
                referral_id=event.referral_id,
                intervention=event.intervention,
                organisation=organisation,
                reference=event.reference,
                event_id=envelope.id,
                payload=envelope.data,
                status=RecipientState.CANCELLED if cancelled else RecipientState.AWAITING,
                received_at=now,
                updated_at=now,
            )
            if inserted:
                await self._db.insert_ignore(
                    conn,
                    referral_timeline,
                    event_id=envelope.id,
                    referral_id=event.referral_id,
                    type="delivered",
                    at=now,
                    detail={"organisation": organisation, "intervention": event.intervention},
                )
        elif envelope.type == PartnerReferralCancelled.TYPE:
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
