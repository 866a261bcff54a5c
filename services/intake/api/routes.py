"""The /v1 API for originators (submit, follow, cancel) and reference data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from pydantic import BeforeValidator

from services.intake import changes, screening
from services.intake.api.dependencies import DbDep, InFlightDep, PartnerDep, SettingsDep, require
from services.intake.api.problems import Problem, conflict, invalid
from services.intake.api.schemas import (
    AUTHED,
    JSON_BODY,
    SUBMISSION_EXAMPLE,
    AcceptedResponse,
    CancelRequest,
    ConfigurationHealth,
    HealthResponse,
    StatusResponse,
    Vocabulary,
    operation_id,
    problems,
)
from services.intake.api.state import intake_state
from services.intake.api.texts import json_request, nfc
from services.intake.reads import record_reads
from services.intake.status import status_view
from services.intake.submission import accept
from vrp.domain.errors import NotFound
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.domain.referral import ReferralSubmission
from vrp.domain.sla import demo_clock_banner
from vrp.domain.vocabulary import SEXES, ConsentState
from vrp.store.database import DATABASE_ERRORS
from vrp.store.health import ping
from vrp.store.unit import reading

router = APIRouter(generate_unique_id_function=operation_id)


@router.post(
    "/v1/referrals",
    status_code=202,
    response_model=AcceptedResponse,
    tags=["referrals"],
    responses=problems(*AUTHED, *JSON_BODY, 409),
    dependencies=[Depends(json_request)],
)
async def submit_referral(
    body: Annotated[
        ReferralSubmission,
        BeforeValidator(nfc),
        Body(openapi_examples={"a-and-e": {"summary": "From A&E", "value": SUBMISSION_EXAMPLE}}),
    ],
    partner: PartnerDep,
    db: DbDep,
    settings: SettingsDep,
    in_flight: InFlightDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str, Header(min_length=8, max_length=200, pattern=r"^[\x21-\x7e]+$")
    ],
) -> AcceptedResponse:
    """Submit a referral. 202 means it is stored durably. The same Idempotency-Key and body
    replay the original answer; a different body is 422; while the first request with the
    key is still being committed, 409 with Retry-After."""
    require(partner, "referrals:submit")
    date_problems = body.check_dates(_today())
    if date_problems:
        raise invalid([{"field": f, "detail": d} for f, d in date_problems])
    with in_flight.claim(partner.organisation, idempotency_key) as mine:
        if not mine:
            raise conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                headers={"Retry-After": "1"},
            )
        state = intake_state(request)
        key = settings.pseudonym_key.get_secret_value().encode()
        accepted = await accept(
            db, partner, idempotency_key, body, state.config(), state.areas, pseudonym_key=key
        )
    if not accepted.replayed:  # accept() returns once committed: count each referral once
        state.metrics.received(partner.organisation)
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


@router.get(
    "/v1/referrals/{referral_id}",
    response_model=StatusResponse,
    tags=["referrals"],
    responses=problems(*AUTHED, 404),
)
async def referral_status(referral_id: str, partner: PartnerDep, db: DbDep) -> StatusResponse:
    """Status, timeline and recipients of a referral you sent (404 for anyone else's)."""
    require(partner, "referrals:read")
    view = await status_view(db, partner.organisation, referral_id)
    if view is None:
        raise NotFound
    await record_reads(db, partner, [referral_id], "status")
    return view


@router.post(
    "/v1/referrals/{referral_id}/cancel",
    response_model=StatusResponse,
    tags=["referrals"],
    responses=problems(*AUTHED, *JSON_BODY, 404, 409),
    dependencies=[Depends(json_request)],
)
async def cancel_referral(
    referral_id: str, body: CancelRequest, partner: PartnerDep, db: DbDep, request: Request
) -> StatusResponse:
    """Withdraw a referral you sent, only before any receiving organisation accepted it
    (409 otherwise). Repeating a cancellation is harmless."""
    require(partner, "referrals:submit")
    screening.check_code(intake_state(request).config(), "cancel_reasons", "reason", body.reason)
    await changes.cancel(db, partner, referral_id, body.reason)
    return await referral_status(referral_id, partner, db)


@router.get(
    "/v1/vocabularies",
    response_model=dict[str, Vocabulary],
    tags=["reference"],
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"risk-levels": {"codes": {"high": "high"}}},
                }
            }
        }
    },
)
async def vocabularies(request: Request) -> dict[str, Vocabulary]:
    """Every coded value the API uses, with its label: the partnership's vocabularies (the
    national set as its configuration extends or replaces it), then the fixed states."""
    loaded = intake_state(request).config().codes.by_api_name()
    return {name: Vocabulary(codes=codes) for name, codes in loaded.items()} | {
        "consent-states": Vocabulary(codes={c.value: c.value for c in ConsentState}),
        "referral-states": Vocabulary(codes={s.value: s.value for s in ReferralState}),
        "response-states": Vocabulary(codes={s.value: s.value for s in RecipientState}),
        "sexes": Vocabulary(codes=dict(SEXES)),
    }


@router.get(
    "/health", response_model=HealthResponse, response_model_exclude_none=True, tags=["operations"]
)
async def health() -> HealthResponse:
    """Liveness: the process answers."""
    return HealthResponse(status="ok")


@router.get(
    "/ready",
    response_model=HealthResponse,
    response_model_exclude_none=True,
    tags=["operations"],
    responses=problems(503),
)
async def ready(db: DbDep, request: Request) -> HealthResponse:
    """Readiness: 503 while the database does not answer. While the broker is unreachable
    referrals are still accepted durably (and published once it is back): `degraded`; so
    too while the configuration files fail to load (the old version still serves, and
    `configuration` says which, since when, and the problems by file and field)."""
    try:
        async with reading(db) as unit:
            await ping(unit)
    except DATABASE_ERRORS:
        raise Problem(
            503,
            "unavailable",
            "Not ready",
            "The database is unreachable.",
            headers={"Retry-After": "1"},
        ) from None
    state = intake_state(request)
    failure = state.reload_failure()
    configuration = (
        None if failure is None else ConfigurationHealth.model_validate(failure.as_json())
    )
    clock = demo_clock_banner(state.settings.demo_speed)
    broker_ok = state.broker_healthy
    broker: Literal["ok", "unavailable"] | None = None
    if broker_ok is not None:
        broker = "ok" if broker_ok() else "unavailable"
    degraded = broker == "unavailable" or configuration is not None
    return HealthResponse(
        status="degraded" if degraded else "ready",
        database="ok",
        broker=broker,
        configuration=configuration,
        demo_clock=clock,
    )


def _today() -> date:
    return datetime.now(UTC).date()
