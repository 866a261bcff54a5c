"""Evidence for referrals stored before migration 0013: their coded facts (from bodies not yet
reduced) and their offers' accepted and closed times (from the timeline). Every write only
fills what is missing, so a second run changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_, update

from vrp.domain.lifecycle import RecipientState
from vrp.domain.referral_facts import ReferralFacts
from vrp.store.offers import OFFERS
from vrp.store.tables import (
    postcode_areas,
    received_referrals,
    referral_facts,
    referral_timeline,
    referrals,
)
from vrp.store.unit import Unit

_TAKEN_ON = [RecipientState.ACCEPTED, RecipientState.IN_PROGRESS, RecipientState.COMPLETED]
_CLOSED = [RecipientState.DECLINED, RecipientState.COMPLETED]
_CLOSING_ENTRIES = ("declined", "completed")


@dataclass(frozen=True, slots=True)
class Unfacted:
    """A stored referral without coded facts, its body whole."""

    id: str
    created_at: datetime
    body: dict[str, Any]


async def without_facts(unit: Unit, after: str, limit: int) -> list[Unfacted]:
    """Referrals after `after` (by id) that have no facts and are not reduced, in id order."""
    r = referrals.c
    rows = await unit.conn.execute(
        select(r.id, r.created_at, r.body)
        .where(
            r.id > after,
            r.reduced_at.is_(None),
            ~exists().where(referral_facts.c.referral_id == r.id),
        )
        .order_by(r.id)
        .limit(limit)
    )
    return [Unfacted(str(i), at, body) for i, at, body in rows]


async def reduced_without_facts(unit: Unit) -> int:
    """Referrals reduced before they had facts (their bodies no longer hold them)."""
    r = referrals.c
    found = await unit.conn.scalar(
        select(func.count())
        .select_from(referrals)
        .where(
            r.reduced_at.is_not(None),
            ~exists().where(referral_facts.c.referral_id == r.id),
        )
    )
    return int(found or 0)


async def add_facts(unit: Unit, found: Sequence[tuple[ReferralFacts, str]]) -> int:
    """Insert each referral's facts (with its postcode's LSOA, when the directory has one)
    unless it has them already; how many were inserted."""
    postcodes = sorted({postcode for _, postcode in found})
    lsoas = {
        p: lsoa
        for p, lsoa in await unit.conn.execute(
            select(postcode_areas.c.postcode, postcode_areas.c.lsoa).where(
                postcode_areas.c.postcode.in_(postcodes)
            )
        )
    }
    rows = [facts.row() | {"lsoa": lsoas.get(postcode)} for facts, postcode in found]
    added = await unit.db.insert_ignore_returning(
        unit.conn, referral_facts, rows, referral_facts.c.referral_id
    )
    return len(added)


@dataclass(frozen=True, slots=True)
class Untimed:
    """An offer whose accepted or closed time is missing though its state says it has one."""

    referral_id: str
    intervention: str
    organisation: str
    status: str


async def untimed_offers(unit: Unit, after: tuple[str, str], limit: int) -> list[Untimed]:
    """Offers after `after` (referral id, intervention) missing a time their state implies."""
    t = received_referrals.c
    rows = await unit.conn.execute(
        select(t.referral_id, t.intervention, t.organisation, t.status)
        .where(
            OFFERS,
            tuple_(t.referral_id, t.intervention) > after,
            or_(
                and_(t.status.in_(_TAKEN_ON), t.accepted_at.is_(None)),
                and_(t.status.in_(_CLOSED), t.closed_at.is_(None)),
            ),
        )
        .order_by(t.referral_id, t.intervention)
        .limit(limit)
    )
    return [Untimed(*row) for row in rows]


async def responses(
    unit: Unit, referral_ids: Sequence[str]
) -> list[tuple[str, str, datetime, dict[str, Any]]]:
    """The response entries (accepted, declined, completed) of these referrals' timelines:
    (referral id, type, at, detail), oldest first."""
    e = referral_timeline.c
    rows = await unit.conn.execute(
        select(e.referral_id, e.type, e.at, e.detail)
        .where(
            e.referral_id.in_(sorted(set(referral_ids))),
            e.type.in_([RecipientState.ACCEPTED.value, *_CLOSING_ENTRIES]),
        )
        .order_by(e.at)
    )
    return [(str(i), str(kind), at, detail or {}) for i, kind, at, detail in rows]


async def set_offer_times(
    unit: Unit,
    referral_id: str,
    intervention: str,
    accepted_at: datetime | None,
    closed_at: datetime | None,
) -> None:
    """Fill an offer's accepted and closed times where they are missing."""
    t = received_referrals.c
    values: dict[str, Any] = {}
    if accepted_at is not None:
        values["accepted_at"] = func.coalesce(t.accepted_at, accepted_at)
    if closed_at is not None:
        values["closed_at"] = func.coalesce(t.closed_at, closed_at)
    if values:
        await unit.conn.execute(
            update(received_referrals)
            .where(t.referral_id == referral_id, t.intervention == intervention, OFFERS)
            .values(**values)
        )
