"""Intake's consumer of the partner topics: each receiver's copies, exactly as published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.events import topics
from vrp.events.models import HeldForTriage, PartnerReferral, PartnerReferralCancelled
from vrp.store import offers, timeline
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler, PoisonEvent


class PartnerInboxHandler:
    """Keeps each offer and each hub copy for its organisation (cancelled if the referral
    already is), and marks offers cancelled on PartnerReferralCancelled."""

    def handlers(self) -> dict[str, EventHandler]:
        """Event type -> handler (copies of both kinds are kept together, in one statement)."""
        return {
            PartnerReferral.TYPE: self.copies,
            HeldForTriage.TYPE: self.copies,
            PartnerReferralCancelled.TYPE: self.cancelled,
        }

    async def copies(self, unit: Unit, run: list[Delivery]) -> None:
        """Keep a run of offers and hub copies: one lock statement, one insert."""
        # Lock the referrals first (one order for all of intake's writers), so a concurrent
        # cancellation is either seen here or waits until these copies exist.
        ids = (str(d.envelope.data.get("referral_id")) for d in run)
        statuses = await timeline.lock_referrals(unit, ids)
        now = datetime.now(UTC)
        rows = [_copy(d, statuses, now) for d in run]
        added = await timeline.store_copies(unit, rows)
        # The timeline dates a delivery by when the router published it, which precedes any
        # alert announcing it; this consumer's own clock may run after the notifier's.
        published = {d.envelope.id: d.envelope.time for d in run}
        delivered = [
            {
                "event_id": r["event_id"],
                "referral_id": r["referral_id"],
                "type": "delivered",
                "at": min(published[r["event_id"]], r["received_at"]),
                "detail": {"organisation": r["organisation"], "intervention": r["intervention"]},
            }
            for r in rows
            if r["event_id"] in added
        ]
        if delivered:
            await timeline.add_entries(unit, delivered)

    async def cancelled(self, unit: Unit, run: list[Delivery]) -> None:
        """The receivers' awaiting offers of withdrawn referrals become cancelled."""
        now = datetime.now(UTC)
        for d in run:
            gone = d.envelope.payload(PartnerReferralCancelled)
            organisation = _organisation(d)
            await timeline.cancel_copy(unit, gone.referral_id, gone.intervention, organisation, now)


def _organisation(d: Delivery) -> str:
    organisation = topics.partner_of(d.message.topic)
    if organisation is None:
        raise PoisonEvent("intake inbox got an event from a non-partner topic")
    return organisation


def _copy(d: Delivery, statuses: dict[str, str], now: datetime) -> dict[str, Any]:
    """The received_referrals row for an offer or a hub copy."""
    organisation = _organisation(d)
    if d.envelope.type == HeldForTriage.TYPE:
        held = d.envelope.payload(HeldForTriage)
        referral_id, reference, intervention = held.referral_id, held.reference, HUB_TRIAGE
        kind = offers.TRIAGE
    else:
        offer = d.envelope.payload(PartnerReferral)
        referral_id, reference, intervention = (
            offer.referral_id,
            offer.reference,
            offer.intervention,
        )
        # Before HeldForTriage, the hub's copy came as an offer to 'hub-triage'.
        kind = offers.TRIAGE if intervention == HUB_TRIAGE else offers.OFFER
    cancelled = statuses.get(referral_id) == ReferralState.CANCELLED
    return {
        "referral_id": referral_id,
        "intervention": intervention,
        "organisation": organisation,
        "reference": reference,
        "kind": kind,
        "event_id": d.envelope.id,
        "payload": d.envelope.data,
        "status": RecipientState.CANCELLED if cancelled else RecipientState.AWAITING,
        "received_at": now,
        "updated_at": now,
    }
