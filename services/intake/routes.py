"""The /v1 partner API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Response
from sqlalchemy import select, text

from services.intake.dependencies import DbDep, PartnerDep, SettingsDep, require
from services.intake.problems import Problem
from services.intake.schemas import AcceptedResponse, StatusResponse, TimelineEntry, Vocabulary
from services.intake.submission import accept
from vrp.domain.referral import ReferralSubmission
from vrp.domain.vocabulary import OVERRIDE_GROUNDS, REASONS, ConsentState, RiskLevel
from vrp.store.tables import referral_timeline, referrals

router = APIRouter()
_NOT_FOUND = Problem(404, "not-found", "Not found", "No referral with this id is visible to you.")


@router.post("/v1/referrals", status_code=202, response_model=AcceptedResponse, tags=["referrals"])
async def submit_referral(
    body: ReferralSubmission,
    partner: PartnerDep,
    db: DbDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=8, max_length=200)],
) -> AcceptedResponse:
    """Submit a referral. 202 means it is stored durably; the same key and body replay."""
    require(partner, "referrals:submit")
    today_problems = body.check_dates(_today())
    if today_problems:
        errors = [{"field": f, "detail": d} for f, d in today_problems]
        raise Problem(
            422,
            "invalid-request",
            "The request is not valid",
            f"{len(errors)} problem(s), first at '{errors[0]['field']}'",
            errors,
        )
    accepted = await accept(db, partner, idempotency_key, body)
    status_url = f"{settings.public_url}/v1/referrals/{accepted.referral_id}"
    response.headers["Location"] = status_url
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return AcceptedResponse(
        id=accepted.referral_id,
        reference=accepted.reference,
        status="received",
        status_url=status_url,
    )


@router.get("/v1/referrals/{referral_id}", response_model=StatusResponse, tags=["referrals"])
async def referral_status(referral_id: str, partner: PartnerDep, db: DbDep) -> StatusResponse:
    """Status and timeline of a referral you sent (404 for anyone else's)."""
    require(partner, "referrals:read")
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    referrals.c.id,
                    referrals.c.reference,
                    referrals.c.status,
                    referrals.c.created_at,
                ).where(
                    referrals.c.id == referral_id, referrals.c.source_org == partner.organisation
                )
            )
        ).first()
        if row is None:
            await conn.rollback()
            raise _NOT_FOUND
        events = await conn.execute(
            select(referral_timeline.c.type, referral_timeline.c.at, referral_timeline.c.detail)
            .where(referral_timeline.c.referral_id == referral_id)
            .order_by(referral_timeline.c.at, referral_timeline.c.event_id)
        )
        timeline = [TimelineEntry(type=e.type, at=e.at, detail=e.detail) for e in events]
        await conn.rollback()
    return StatusResponse(
        id=row.id,
        reference=row.reference,
        status=row.status,
        received_at=row.created_at,
        timeline=timeline,
    )


@router.get("/v1/vocabularies", response_model=dict[str, Vocabulary], tags=["reference"])
async def vocabularies() -> dict[str, Vocabulary]:
    """Every coded value a referral may carry, with its label."""
    return {
        "reasons": Vocabulary(codes=REASONS),
        "risk-levels": Vocabulary(codes={r.value: r.value for r in RiskLevel}),
        "consent-states": Vocabulary(codes={c.value: c.value for c in ConsentState}),
        "override-grounds": Vocabulary(codes=OVERRIDE_GROUNDS),
    }


@router.get("/health", tags=["operations"])
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", tags=["operations"])
async def ready(db: DbDep) -> dict[str, str]:
    """Readiness: the database answers."""
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await conn.rollback()
    return {"status": "ready"}


def _today() -> date:
    return datetime.now(UTC).date()
