"""State changes after submission: the originator cancels, receivers respond.

Each change is one transaction: intake's rows + a timeline row + the event in the outbox.
The referral row is locked first, so a cancellation and an acceptance never both win.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.api.schemas import Accept, Complete, Decline, InProgress
from services.intake.auth.keys import Partner
from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import LifecycleViolation, RecipientState, ReferralState
from vrp.events import topics
from vrp.events.envelope import Envelope, EventData
from vrp.events.models import ReferralCancelled, ReferralResponded
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referral_timeline, referrals


async def lock_referral(conn: AsyncConnection, referral_id: str) -> Row[Any, Any, Any] | None:
    """Lock a referral's row for a change (id, originator, status), if it exists."""
    return (
        await conn.execute(
            select(referrals.c.id, referrals.c.source_org, referrals.c.status)
            .where(referrals.c.id == referral_id)
            .with_for_update()
        )
    ).first()


async def record(
    conn: AsyncConnection,
    topic: str,
    referral_id: str,
    event: EventData,
    kind: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    """Write a change's timeline row and its event to the outbox (one transaction)."""
    envelope = Envelope.wrap(event, SOURCE, referral_id)
    await conn.execute(
        referral_timeline.insert().values(
            event_id=envelope.id, referral_id=referral_id, type=kind, at=at, detail=detail
        )
    )
    await outbox.add(conn, PRODUCER, topic, referral_id, envelope)


async def cancel(db: Database, partner: Partner, referral_id: str, reason: str) -> None:
    """Withdraw a referral (originator only, before any acceptance); a repeat is a no-op."""
    async with db.transaction() as conn:
        row = await lock_referral(conn, referral_id)
        if row is None or row.source_org != partner.organisation:
            raise NotFound
        states = [
            RecipientState(s)
            for s in (
                await conn.execute(
                    select(received_referrals.c.status)
                    .where(received_referrals.c.referral_id == referral_id)
                    .with_for_update()
                )
            ).scalars()
        ]
        try:
            if not lifecycle.cancel(ReferralState(row.status), states):
                return
        except LifecycleViolation as exc:
            raise Conflict(str(exc)) from None
        await withdraw(conn, referral_id, partner.organisation, reason, "cancelled", {})


async def withdraw(
    conn: AsyncConnection,
    referral_id: str,
    source_org: str,
    reason: str,
    kind: str,
    detail: dict[str, Any],
) -> None:
    """Cancel a locked referral and its open offers, and tell the router, who tells
    everyone holding it and the referrer (the caller checked the lifecycle)."""
    now = datetime.now(UTC)
    await conn.execute(
        update(referrals)
        .where(referrals.c.id == referral_id)
        .values(status=ReferralState.CANCELLED, updated_at=now)
    )
    await conn.execute(
        update(received_referrals)
        .where(
            received_referrals.c.referral_id == referral_id,
            received_referrals.c.status == RecipientState.AWAITING,
        )
        .values(status=RecipientState.CANCELLED, updated_at=now)
    )
    event = ReferralCancelled(
        referral_id=referral_id, source_org=source_org, reason=reason, cancelled_at=now
    )
    await record(conn, topics.RECEIVED, referral_id, event, kind, now, {"reason": reason} | detail)


Response = Accept | Decline | InProgress | Complete


async def respond(
    db: Database, partner: Partner, referral_id: str, response: Response
) -> tuple[str, bool]:
    """Apply a receiver's response; returns (intervention, changed)."""
    target = RecipientState(response.status)
    code = response.reason if isinstance(response, Decline) else None
    outcome = response.outcome if isinstance(response, Complete) else None
    async with db.transaction() as conn:
        referral = await lock_referral(conn, referral_id)
        mine = list(
            await conn.execute(
                select(received_referrals)
                .where(
                    received_referrals.c.referral_id == referral_id,
                    received_referrals.c.organisation == partner.organisation,
                )
                .with_for_update()
            )
        )
        if referral is None or not mine:
            raise NotFound
        entry = _choose(mine, response.intervention)
        current = RecipientState(entry.status)
        if referral.status == ReferralState.CANCELLED:
            current = RecipientState.CANCELLED
        try:
            verdict = lifecycle.respond(
                current, target, code or outcome, entry.reason or entry.outcome
            )
        except LifecycleViolation as exc:
            raise Conflict(str(exc)) from None
        if not verdict.changed:
            return entry.intervention, False
        now = datetime.now(UTC)
        await conn.execute(
            update(received_referrals)
            .where(
                received_referrals.c.referral_id == referral_id,
                received_referrals.c.intervention == entry.intervention,
            )
            .values(status=target, reason=code, outcome=outcome, updated_at=now)
        )
        others = (
            await conn.execute(
                select(received_referrals.c.status).where(
                    received_referrals.c.referral_id == referral_id,
                    # The hub's triage copy is not an offer: it never accepts or declines.
                    received_referrals.c.intervention != HUB_TRIAGE,
                )
            )
        ).scalars()
        status = lifecycle.referral_state(ReferralState.ROUTED, [RecipientState(s) for s in others])
        await conn.execute(
            update(referrals)
            .where(referrals.c.id == referral_id)
            .values(status=status, updated_at=now)
        )
        event = ReferralResponded(
            referral_id=referral_id,
            organisation=partner.organisation,
            intervention=entry.intervention,
            status=response.status,
            reason=code,
            outcome=outcome,
            responded_at=now,
        )
        detail = {"organisation": partner.organisation, "intervention": entry.intervention}
        detail |= {"reason": code} if code else {}
        detail |= {"outcome": outcome} if outcome else {}
        await record(conn, topics.STATUS, referral_id, event, str(target), now, detail)
    return entry.intervention, True


def _choose(mine: list[Row[Any]], intervention: str | None) -> Row[Any]:
    if intervention is not None:
        for row in mine:
            if row.intervention == intervention:
                return row
        raise InvalidField("intervention", "is not routed to you for this referral")
    if len(mine) > 1:
        raise InvalidField("intervention", "is required: several of your interventions")
    return mine[0]
