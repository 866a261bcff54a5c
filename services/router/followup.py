"""After routing: the originator's cancellation and the receivers' responses."""

from __future__ import annotations

import uuid

from services.router.routing import PRODUCER, SOURCE
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.events import topics
from vrp.events.commands import WithdrawOffer
from vrp.events.envelope import Envelope, EventData
from vrp.events.models import (
    PartnerReferralCancelled,
    PartnerReferralStatus,
    ReferralCancelled,
    ReferralResponded,
    ReferrerUpdate,
)
from vrp.store import decisions
from vrp.store.unit import Unit


async def cancel(unit: Unit, config: RoutingConfiguration, c: ReferralCancelled) -> None:
    """Tell every organisation still holding the referral that it was withdrawn."""
    if not await decisions.decided(unit, [c.referral_id]):
        # Cancelled before it was routed: record that, so it is never routed afterwards.
        await decisions.cancelled_before_routing(unit, c.referral_id, config.version, c.reason)
        return
    holders = await decisions.withdraw_open(unit, c.referral_id)
    ref = reference(uuid.UUID(c.referral_id))
    status = PartnerReferralStatus(
        referral_id=c.referral_id,
        reference=ref,
        status="cancelled",
        reason=c.reason,
        at=c.cancelled_at,
    )
    _tell_referrer(unit, c.source_org, status)
    for intervention, organisation in holders:
        event = PartnerReferralCancelled(
            referral_id=c.referral_id,
            reference=ref,
            intervention=intervention,
            reason=c.reason,
            cancelled_at=c.cancelled_at,
        )
        _emit(unit, topics.partner_referrals(organisation), c.referral_id, event)


async def withdraw_offer(unit: Unit, w: WithdrawOffer) -> None:
    """Free an escalated offer's place and tell its organisation it was withdrawn (a
    redelivered command tells it again; its inbox ignores a second one)."""
    await decisions.withdraw_one(unit, w.referral_id, w.intervention, w.organisation)
    event = PartnerReferralCancelled(
        referral_id=w.referral_id,
        reference=reference(uuid.UUID(w.referral_id)),
        intervention=w.intervention,
        reason=w.reason,
        cancelled_at=w.withdrawn_at,
    )
    _emit(unit, topics.partner_referrals(w.organisation), w.referral_id, event)


async def record_response(unit: Unit, r: ReferralResponded) -> None:
    """Keep capacity right (declined and completed free their place); tell the sender."""
    await decisions.set_offer_status(unit, r.referral_id, r.intervention, r.organisation, r.status)
    source = await decisions.routed_source(unit, r.referral_id)
    if source is None:
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
    _tell_referrer(unit, source, status)


def _tell_referrer(unit: Unit, referrer: str, status: PartnerReferralStatus) -> None:
    """The referrer's status topic, and the internal copy the notifier alerts it from."""
    _emit(unit, topics.partner_status(referrer), status.referral_id, status)
    update = ReferrerUpdate(referrer=referrer, update=status)
    _emit(unit, topics.UPDATES, status.referral_id, update)


def _emit(unit: Unit, topic: str, referral_id: str, event: EventData) -> None:
    unit.event(PRODUCER, topic, referral_id, Envelope.wrap(event, SOURCE, referral_id))
