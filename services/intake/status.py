"""The originator's view of a referral: status, timeline and recipients (read only)."""

from __future__ import annotations

from services.intake.api.schemas import RecipientView, StatusResponse, TimelineEntry
from vrp.domain.lifecycle import RecipientState
from vrp.store import offers, referrals
from vrp.store.database import Database
from vrp.store.unit import snapshot


async def status_view(db: Database, organisation: str, referral_id: str) -> StatusResponse | None:
    """The referral as its originator sees it; None when organisation did not send it."""
    # One snapshot for the row, its timeline and its recipients: a decision committed
    # between the reads must not show "routed" in the timeline of a referral "received".
    async with snapshot(db) as unit:
        row = await referrals.sent_by(unit, organisation, referral_id)
        if row is None:
            return None
        events = await referrals.timeline(unit, referral_id)
        copies = await offers.of_referral(unit, referral_id)
    return StatusResponse(
        id=row.id,
        reference=row.reference,
        status=row.status,
        received_at=row.created_at,
        updated_at=row.updated_at,
        timeline=[TimelineEntry(type=e.type, at=e.at, detail=e.detail) for e in events],
        recipients=[
            RecipientView(
                organisation=r.organisation,
                intervention=r.intervention,
                status=RecipientState(r.status),
                reason=r.reason,
                outcome=r.outcome,
                received_at=r.received_at,
                updated_at=r.updated_at,
            )
            for r in copies
        ],
    )
