"""Commands: one service asking another to do something, as opposed to an event, which says
that something happened. They travel on the internal topics like events (in the same
envelope, keyed by referral, so a command follows the events of its referral in order), and
a consumer lists the command types it accepts beside its event types (vrp/events/wiring.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from vrp.domain.referral import Referral
from vrp.events.envelope import EventData
from vrp.events.legacy import ReferralV1

OfferRequester = Literal["hub", "escalation"]


class OfferReferral(EventData):
    """Offer this referral to this intervention (on RECEIVED, to the router).

    Asked by the hub routing a held referral by hand, or by an escalation offering a
    referral nobody accepted in time to its intervention's fallback (`instead_of`). The
    router applies the same eligibility, consent and agreement checks as when it routes,
    and minimises the referral again for the new receiver, hence the whole referral here.
    """

    TYPE = "uk.vrp.command.offer-referral.v2"
    referral: Referral
    intervention: str
    requested_by: OfferRequester
    instead_of: str | None = None


class OfferReferralV1(EventData):
    """Retired: v1 allowed only the national risk levels (v2 takes the partnership's risk
    codes). The router still acts on the ones left on the topic."""

    TYPE = "uk.vrp.command.offer-referral.v1"
    referral: ReferralV1
    intervention: str
    requested_by: OfferRequester
    instead_of: str | None = None


class WithdrawOffer(EventData):
    """Withdraw one unaccepted offer (on RECEIVED, from intake to the router): asked by an
    escalation whose intervention says `on_escalation: withdraw`. The router frees the
    offer's place and tells the receiving organisation on its partner topic (ids and a
    reason code only)."""

    TYPE = "uk.vrp.command.withdraw-offer.v1"
    referral_id: str
    organisation: str
    intervention: str
    reason: str
    withdrawn_at: datetime


ALL_COMMANDS: tuple[type[EventData], ...] = (OfferReferral, OfferReferralV1, WithdrawOffer)
