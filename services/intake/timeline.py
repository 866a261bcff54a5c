"""Intake's status view, built from the router's and notifier's events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent, ReferralDecided
from vrp.store.database import Database
from vrp.store.tables import referral_timeline, referrals
from vrp.transport.worker import PoisonEvent


class TimelineHandler:
    """Appends decision and alert events to the referral's timeline; updates its status."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one decided or alert-sent event."""
        if envelope.type == ReferralDecided.TYPE:
            d = envelope.payload(ReferralDecided)
            detail = {
                "recipients": [
                    {"organisation": r.organisation, "intervention": r.intervention}
                    for r in d.recipients
                ],
                "held_reasons": d.held_reasons,
                "config_version": d.config_version,
            }
            await self._append(conn, envelope, d.referral_id, d.outcome, d.decided_at, detail)
            await conn.execute(
                update(referrals)
                .where(referrals.c.id == d.referral_id, referrals.c.status == "received")
                .values(status=d.outcome, updated_at=datetime.now(UTC))
            )
        elif envelope.type == AlertSent.TYPE:
            a = envelope.payload(AlertSent)
            detail = {"organisation": a.organisation, "channel": a.channel}
            await self._append(conn, envelope, a.referral_id, "alert-sent", a.sent_at, detail)
        else:
            raise PoisonEvent(f"intake cannot handle event type {envelope.type}")

    async def _append(
        self,
        conn: AsyncConnection,
        envelope: Envelope,
        referral_id: str,
        kind: str,
        at: datetime,
        detail: dict[str, object],
    ) -> None:
        await self._db.insert_ignore(
            conn,
            referral_timeline,
            event_id=envelope.id,
            referral_id=referral_id,
            type=kind,
            at=at,
            detail=detail,
        )
