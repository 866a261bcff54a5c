"""The originator's view of a referral: status, timeline and recipients (read only)."""

from __future__ import annotations

from sqlalchemy import select

from services.intake.api.schemas import RecipientView, StatusResponse, TimelineEntry
from vrp.domain.lifecycle import RecipientState
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referral_timeline, referrals


async def status_view(db: Database, organisation: str, referral_id: str) -> StatusResponse | None:
    """The referral as its originator sees it; None when organisation did not send it."""
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            # One snapshot for the row, its timeline and its recipients. Under READ COMMITTED
            # each statement sees its own: a decision committed between them showed "routed"
            # in the timeline of a referral still "received".
            await conn.execution_options(isolation_level="REPEATABLE READ")
        row = (
            await conn.execute(
                select(
                    referrals.c.id,
                    referrals.c.reference,
                    referrals.c.status,
                    referrals.c.created_at,
                    referrals.c.updated_at,
                ).where(referrals.c.id == referral_id, referrals.c.source_org == organisation)
            )
        ).first()
        if row is None:
            await conn.rollback()
            return None
        events = await conn.execute(
            select(referral_timeline.c.type, referral_timeline.c.at, referral_timeline.c.detail)
            .where(referral_timeline.c.referral_id == referral_id)
            .order_by(referral_timeline.c.at, referral_timeline.c.event_id)
        )
        timeline = [TimelineEntry(type=e.type, at=e.at, detail=e.detail) for e in events]
        recipients = [
            RecipientView(
                organisation=r.organisation,
                intervention=r.intervention,
                status=RecipientState(r.status),
                reason=r.reason,
                outcome=r.outcome,
                received_at=r.received_at,
                updated_at=r.updated_at,
            )
            for r in await conn.execute(
                select(received_referrals)
                .where(received_referrals.c.referral_id == referral_id)
                .order_by(received_referrals.c.received_at, received_referrals.c.intervention)
            )
        ]
        await conn.rollback()
    return StatusResponse(
        id=row.id,
        reference=row.reference,
        status=row.status,
        received_at=row.created_at,
        updated_at=row.updated_at,
        timeline=timeline,
        recipients=recipients,
    )
