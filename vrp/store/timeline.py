"""Intake's consumers' writes: the referral timeline, the referral status it moves, and the
receivers' copies arriving from the partner topics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.store.offers import OFFERS
from vrp.store.tables import received_referrals, referral_timeline, referrals
from vrp.store.unit import Unit


async def lock_referrals(unit: Unit, ids: Iterable[str]) -> dict[str, str]:
    """Lock these referrals' rows in id order, all at once; returns each one's status.

    Intake's consumers each write many referrals per transaction. Taking every row lock up
    front, in one global order, means two of them can wait for each other but never
    deadlock (PostgreSQL; SQLite serialises writers anyway).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await unit.conn.execute(
        select(referrals.c.id, referrals.c.status)
        .where(referrals.c.id.in_(wanted))
        .order_by(referrals.c.id)
        .with_for_update()
    )
    return {r.id: r.status for r in rows}


async def known_referrals(unit: Unit, ids: Collection[str]) -> set[str]:
    """Which of these ids are referrals this intake holds."""
    if not ids:
        return set()
    rows = await unit.conn.execute(select(referrals.c.id).where(referrals.c.id.in_(list(ids))))
    return {str(r[0]) for r in rows}


async def add_entries(unit: Unit, rows: list[dict[str, Any]]) -> set[str]:
    """Append timeline entries not recorded before; the event ids of those added."""
    return {
        str(i)
        for i in await unit.db.insert_ignore_returning(
            unit.conn, referral_timeline, rows, referral_timeline.c.event_id
        )
    }


async def move_received(unit: Unit, ids: Collection[str], status: str, now: datetime) -> None:
    """Referrals still 'received' take their first decision's outcome."""
    await unit.conn.execute(
        update(referrals)
        .where(referrals.c.id.in_(list(ids)), referrals.c.status == ReferralState.RECEIVED)
        .values(status=status, updated_at=now)
    )


async def offerable_body(unit: Unit, referral_id: str) -> dict[str, Any] | None:
    """The referral as submitted, while it may still be offered to someone (None once
    withdrawn, or past retention with only coded facts left)."""
    row = (
        await unit.conn.execute(
            select(referrals.c.body, referrals.c.status, referrals.c.reduced_at).where(
                referrals.c.id == referral_id
            )
        )
    ).first()
    if row is None or row.status == ReferralState.CANCELLED or row.reduced_at is not None:
        return None
    return dict(row.body)


async def reopenable(unit: Unit, ids: Collection[str]) -> list[str]:
    """Of these referrals, the ones held or declined by everyone (a later offer reopens them)."""
    return [
        str(i)
        for i in (
            await unit.conn.execute(
                select(referrals.c.id).where(
                    referrals.c.id.in_(list(ids)), referrals.c.status.in_(REOPENABLE)
                )
            )
        ).scalars()
    ]


REOPENABLE = (ReferralState.HELD, ReferralState.DECLINED)


async def offer_states(unit: Unit, ids: Collection[str]) -> dict[str, dict[str, RecipientState]]:
    """Each referral's offers (not the hub's copy): intervention -> state."""
    out: dict[str, dict[str, RecipientState]] = defaultdict(dict)
    rows = await unit.conn.execute(
        select(
            received_referrals.c.referral_id,
            received_referrals.c.intervention,
            received_referrals.c.status,
        ).where(received_referrals.c.referral_id.in_(list(ids)), OFFERS)
    )
    for r in rows:
        out[r.referral_id][r.intervention] = RecipientState(r.status)
    return out


async def reopen(unit: Unit, referral_id: str, status: str, now: datetime) -> None:
    """Move a held or declined referral to status (a later offer made it live again)."""
    await unit.conn.execute(
        update(referrals)
        .where(referrals.c.id == referral_id, referrals.c.status.in_(REOPENABLE))
        .values(status=status, updated_at=now)
    )


async def store_copies(unit: Unit, rows: list[dict[str, Any]]) -> set[str]:
    """Keep receivers' copies not kept before (by event id); the event ids of those added."""
    return {
        str(i)
        for i in await unit.db.insert_ignore_returning(
            unit.conn, received_referrals, rows, received_referrals.c.event_id
        )
    }


async def cancel_copy(
    unit: Unit, referral_id: str, intervention: str, organisation: str, now: datetime
) -> None:
    """A receiver's awaiting copy of a withdrawn referral becomes cancelled."""
    await unit.conn.execute(
        update(received_referrals)
        .where(
            received_referrals.c.referral_id == referral_id,
            received_referrals.c.intervention == intervention,
            received_referrals.c.organisation == organisation,
            received_referrals.c.status == RecipientState.AWAITING,
        )
        .values(status=RecipientState.CANCELLED, updated_at=now)
    )


async def withdraw_offer(
    unit: Unit, referral_id: str, intervention: str, organisation: str, reason: str, now: datetime
) -> bool:
    """Cancel a receiver's offer with a coded reason if it still awaits an answer; whether
    it did (False: answered or withdrawn already)."""
    result = await unit.conn.execute(
        update(received_referrals)
        .where(
            received_referrals.c.referral_id == referral_id,
            received_referrals.c.intervention == intervention,
            received_referrals.c.organisation == organisation,
            received_referrals.c.status == RecipientState.AWAITING,
            OFFERS,
        )
        .values(status=RecipientState.CANCELLED, reason=reason, updated_at=now)
    )
    return bool(result.rowcount)


async def move_routed(unit: Unit, referral_id: str, status: str, now: datetime) -> None:
    """A referral still 'routed' takes this status (an escalation withdrew an offer)."""
    await unit.conn.execute(
        update(referrals)
        .where(referrals.c.id == referral_id, referrals.c.status == ReferralState.ROUTED)
        .values(status=status, updated_at=now)
    )
