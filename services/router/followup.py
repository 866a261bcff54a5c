"""After routing: the originator's cancellation and the receivers' responses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.routing import OPEN, PRODUCER, SOURCE
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.events import topics
from vrp.events.envelope import Envelope, EventData
from vrp.events.models import (
    PartnerReferralCancelled,
    PartnerReferralStatus,
    ReferralCancelled,
    ReferralResponded,
    ReferrerUpdate,
)
from vrp.store import outbox
from vrp.store.tables import decisions, routed


async def cancel(conn: AsyncConnection, config: RoutingConfiguration, c: ReferralCancelled) -> None:
    """Tell every organisation still holding the referral that it was withdrawn."""
    decided = await conn.execute(
        select(decisions.c.referral_id).where(decisions.c.referral_id == c.referral_id)
    )
    if decided.first() is None:
        # Cancelled before it was routed: record that, so it is never routed afterwards.
        await conn.execute(
            decisions.insert().values(
                referral_id=c.referral_id,
                event_id="",
                config_version=config.version,
                outcome="cancelled",
                detail={"reason": c.reason},
                facts=None,
                decided_at=datetime.now(UTC),
            )
        )
        return
    holders = list(
        await conn.execute(
            select(routed.c.intervention, routed.c.organisation).where(
                routed.c.referral_id == c.referral_id, routed.c.status.in_(OPEN)
            )
        )
    )
    await conn.execute(
        update(routed)
        .where(routed.c.referral_id == c.referral_id, routed.c.status.in_(OPEN))
        .values(status="cancelled")
    )
    ref = reference(uuid.UUID(c.referral_id))
    status = PartnerReferralStatus(
        referral_id=c.referral_id,
        reference=ref,
        status="cancelled",
        reason=c.reason,
        at=c.cancelled_at,
    )
    await _tell_referrer(conn, c.source_org, status)
    for h in holders:
        event = PartnerReferralCancelled(
            referral_id=c.referral_id,
            reference=ref,
            intervention=h.intervention,
            reason=c.reason,
            cancelled_at=c.cancelled_at,
        )
        await _emit(conn, topics.partner_referrals(h.organisation), c.referral_id, event)


async def record_response(conn: AsyncConnection, r: ReferralResponded) -> None:
    """Keep capacity right (declined and completed free their place); tell the sender."""
    await conn.execute(
        update(routed)
        .where(
            routed.c.referral_id == r.referral_id,
            routed.c.intervention == r.intervention,
            routed.c.organisation == r.organisation,
        )
        .values(status=r.status)
    )
    row = (
        await conn.execute(
            select(decisions.c.facts).where(decisions.c.referral_id == r.referral_id)
        )
    ).first()
    if row is None or not row.facts:
        return  # not routed by us (or cancelled before routing): nobody to tell
    status = PartnerReferralStatus(
        referral_id=r.referral_id,
        reference=reference(uuid.UUID(r.referral_id)),
        status=r.status,
        organisation=r.organisation,
        intervention=r.intervention,
        reason=r.reason,
        outcome=r.outcome,
        at=r.responded_at,
    )
    await _tell_referrer(conn, row.facts["source_org"], status)


async def _tell_referrer(
    conn: AsyncConnection, referrer: str, status: PartnerReferralStatus
) -> None:
    """The referrer's status topic, and the internal copy the notifier alerts it from."""
    await _emit(conn, topics.partner_status(referrer), status.referral_id, status)
    update = ReferrerUpdate(referrer=referrer, update=status)
    await _emit(conn, topics.UPDATES, status.referral_id, update)


async def _emit(conn: AsyncConnection, topic: str, referral_id: str, event: EventData) -> None:
    await outbox.add(conn, PRODUCER, topic, referral_id, Envelope.wrap(event, SOURCE, referral_id))
