"""What the partnership dashboard counts: every referral with its first decision, and every
offer with when it was accepted. The dashboard reduces these to coded facts at once and
shows only counts, small ones suppressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vrp.domain.lifecycle import RecipientState
from vrp.store.offers import OFFERS
from vrp.store.tables import decisions, received_referrals, referral_timeline, referrals
from vrp.store.unit import Unit


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """One referral as stored, with the router's decision on it (None: not yet decided)."""

    id: str
    created_at: datetime
    local_authority: str | None
    body: dict[str, Any] | None
    outcome: str | None
    decision: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class OfferRow:
    """One intervention's offer of a referral, as its organisation holds it."""

    referral_id: str
    intervention: str
    status: str
    payload: dict[str, Any] | None
    received_at: datetime
    updated_at: datetime


async def decided_referrals(unit: Unit) -> list[ReferralRow]:
    """Every referral, with the outcome and detail of its decision when it has one."""
    decided = {
        r.referral_id: (r.outcome, r.detail)
        for r in await unit.conn.execute(
            select(decisions.c.referral_id, decisions.c.outcome, decisions.c.detail)
        )
    }
    rows = await unit.conn.execute(
        select(
            referrals.c.id, referrals.c.created_at, referrals.c.local_authority, referrals.c.body
        )
    )
    return [
        ReferralRow(r.id, r.created_at, r.local_authority, r.body, *decided.get(r.id, (None, None)))
        for r in rows
    ]


async def acceptances(unit: Unit) -> dict[tuple[str, str], datetime]:
    """When each (referral, intervention) offer was first accepted, as the timeline says."""
    t = referral_timeline.c
    accepted: dict[tuple[str, str], datetime] = {}
    for r in await unit.conn.execute(
        select(t.referral_id, t.at, t.detail)
        .where(t.type == RecipientState.ACCEPTED)
        .order_by(t.at)
    ):
        accepted.setdefault((r.referral_id, str((r.detail or {}).get("intervention"))), r.at)
    return accepted


async def offers(unit: Unit) -> list[OfferRow]:
    """Every offer (the hub's triage copies are none)."""
    t = received_referrals.c
    rows = await unit.conn.execute(
        select(
            t.referral_id, t.intervention, t.status, t.payload, t.received_at, t.updated_at
        ).where(OFFERS)
    )
    return [OfferRow(**r._mapping) for r in rows]
