"""The /v1 API for receiving organisations: their inbox and their responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from services.intake import changes, offers, screening
from services.intake.api.dependencies import DbDep, PartnerDep, require
from services.intake.api.problems import invalid
from services.intake.api.schemas import (
    AUTHED,
    JSON_BODY,
    InboxItem,
    InboxPage,
    InboxReferral,
    ResponseRequest,
    operation_id,
    problems,
)
from services.intake.api.state import intake_state
from services.intake.api.texts import json_request
from services.intake.reads import record_reads
from vrp.domain.errors import NotFound
from vrp.domain.lifecycle import RecipientState
from vrp.store.offers import Copy, Position

router = APIRouter(tags=["receivers"], generate_unique_id_function=operation_id)
_RESPONSE_EXAMPLES: dict[str, Any] = {
    "accept": {"summary": "Accept", "value": {"status": "accepted"}},
    "decline": {"summary": "Decline", "value": {"status": "declined", "reason": "no-capacity"}},
    "start": {"summary": "Work started", "value": {"status": "in-progress"}},
    "contact": {
        "summary": "First contact made",
        "value": {"status": "in-progress", "first_contact_at": "2026-11-26T09:30:00Z"},
    },
    "complete": {"summary": "Completed", "value": {"status": "completed", "outcome": "engaged"}},
}


def _item(row: Copy) -> InboxItem:
    return InboxItem(
        referral_id=row.referral_id,
        reference=row.reference,
        intervention=row.intervention,
        status=RecipientState(row.status),
        reason=row.reason,
        outcome=row.outcome,
        received_at=row.received_at,
        updated_at=row.updated_at,
        accepted_at=row.accepted_at,
        first_contact_at=row.first_contact_at,
        closed_at=row.closed_at,
        referral=row.payload,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"^([0-9]{1,16})~([A-Za-z0-9_.:-]{1,64})~([A-Za-z0-9_.:-]{1,64})$")
"""A position in the inbox order: microseconds since 1970, referral id, intervention. Any
string of this shape is a position (so the OpenAPI pattern says exactly what is accepted);
it names nothing a partner cannot already see in its own inbox."""


def _cursor(at: Position) -> str:
    micros = (at.received_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{at.referral_id}~{at.intervention}"


def _position(cursor: str) -> Position:
    match = CURSOR.match(cursor)
    if match is None:
        raise invalid([{"field": "cursor", "detail": "is not a cursor this API returned"}])
    micros, referral_id, intervention = match.groups()
    return Position(_EPOCH + timedelta(microseconds=int(micros)), referral_id, intervention)


@router.get("/v1/inbox", response_model=InboxPage, responses=problems(*AUTHED, 422))
async def inbox(
    partner: PartnerDep,
    db: DbDep,
    status: Annotated[
        RecipientState | None, Query(description="Only entries in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=150,
            pattern=CURSOR.pattern,
            description="The next_cursor of the previous page, unchanged.",
        ),
    ] = None,
) -> InboxPage:
    """Referrals routed to your organisation, oldest first, each exactly as minimised for
    you under the information-sharing agreement."""
    require(partner, "referrals:respond")
    after = _position(cursor) if cursor is not None else None
    page = await offers.inbox(db, partner.organisation, status, after, limit)
    rows = page.copies
    await record_reads(db, partner, (r.referral_id for r in rows), "inbox")
    return InboxPage(
        items=[_item(r) for r in rows],
        next_cursor=_cursor(rows[-1].position) if page.more else None,
    )


async def _mine(db: DbDep, partner: PartnerDep, referral_id: str) -> InboxReferral:
    rows = await offers.received(db, partner.organisation, referral_id)
    if not rows:
        raise NotFound
    return InboxReferral(referral_id=referral_id, items=[_item(r) for r in rows])


@router.get(
    "/v1/inbox/{referral_id}", response_model=InboxReferral, responses=problems(*AUTHED, 404)
)
async def inbox_referral(referral_id: str, partner: PartnerDep, db: DbDep) -> InboxReferral:
    """One referral routed to your organisation (404 if it was not routed to you)."""
    require(partner, "referrals:respond")
    entry = await _mine(db, partner, referral_id)
    await record_reads(db, partner, [referral_id], "inbox-entry")
    return entry


@router.post(
    "/v1/referrals/{referral_id}/response",
    response_model=InboxReferral,
    responses=problems(*AUTHED, *JSON_BODY, 404, 409),
    dependencies=[Depends(json_request)],
)
async def respond(
    referral_id: str,
    body: Annotated[ResponseRequest, Body(openapi_examples=_RESPONSE_EXAMPLES)],
    partner: PartnerDep,
    db: DbDep,
    request: Request,
) -> InboxReferral:
    """Respond to a referral routed to you: accept, decline (coded reason), in progress,
    completed (coded outcome). Transitions that break the lifecycle are 409; repeating the
    current response is harmless. `intervention` is needed only when several of your
    interventions received the referral. `first_contact_at` (accepted, in progress,
    completed) records when you first made contact with the person: not in the future, not
    before the offer (422 naming the field), once (a different time later is 409)."""
    require(partner, "referrals:respond")
    config = intake_state(request).config()
    # Named as the validation of the tagged body names them: declined.reason, completed.outcome.
    reason, outcome = getattr(body, "reason", None), getattr(body, "outcome", None)
    screening.check_code(config, "decline_reasons", f"{body.status}.reason", reason)
    screening.check_code(config, "outcomes", f"{body.status}.outcome", outcome)
    await changes.respond(db, partner, referral_id, body)
    return await _mine(db, partner, referral_id)
