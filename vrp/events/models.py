"""Typed event payloads. Only RECEIVED and partner topics carry personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vrp.domain.referral import Referral
from vrp.domain.vocabulary import AlertKind, Channel, DataItem
from vrp.events.envelope import EventData
from vrp.events.legacy import ReferralV1


class ReferralReceived(EventData):
    """Intake stored a new referral (internal topic; full personal data). v2: the risk is a
    code of the partnership's risk-levels vocabulary, no longer only a national level."""

    TYPE = "uk.vrp.referral.received.v2"
    referral: Referral


class ReferralReceivedV1(EventData):
    """Retired: v1 allowed only the national risk levels. The router still routes the ones
    left on the topic."""

    TYPE = "uk.vrp.referral.received.v1"
    referral: ReferralV1


class RecipientSummary(BaseModel):
    """Who received a referral and under which agreement; never the data itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    organisation: str
    intervention: str
    agreement_id: str
    agreement_version: int
    flow_id: str
    items: list[DataItem]
    respond_by: datetime | None = None


class ReferralDecided(EventData):
    """The router decided: routed to recipients, or held with reasons. No personal data."""

    TYPE = "uk.vrp.referral.decided.v1"
    referral_id: str
    reference: str
    source_org: str
    outcome: Literal["routed", "held"]
    config_version: str
    recipients: list[RecipientSummary]
    held_reasons: list[str]
    decided_at: datetime
    urgency: str | None = None
    """The referrer's coded risk level, so alerts can say how urgent it is."""
    cause: Literal["received", "fallback"] = "received"
    """Why this decision: a new referral, or an escalated one offered to a fallback."""
    hub_reasons: list[str] = []
    """The held reasons as the hub may read them (only what its triage flow permits)."""


class PartnerReferral(EventData):
    """A referral offered to one intervention, as its organisation may see it: only what its
    agreement permits. (Before HeldForTriage existed, the hub's copy of a held referral came
    as one of these with intervention 'hub-triage'; such events are still read as copies.)
    """

    TYPE = "uk.vrp.partner.referral.v1"
    referral_id: str
    reference: str
    intervention: str
    intervention_title: str
    from_organisation: str
    agreement_id: str
    agreement_version: int
    flow_id: str
    respond_by: datetime
    data: dict[str, Any]
    held_reasons: list[str] = []


class HeldForTriage(EventData):
    """The VRU hub's copy of a referral nobody could lawfully receive: held_reasons says why,
    and data holds only what the sender's hub-triage flow permits (empty without one).

    Not an offer: the hub decides where it goes (it may route it by hand, or close it).
    """

    TYPE = "uk.vrp.partner.held-for-triage.v1"
    referral_id: str
    reference: str
    from_organisation: str
    agreement_id: str
    agreement_version: int
    flow_id: str
    received_at: datetime
    data: dict[str, Any]
    held_reasons: list[str]


class ReferralCancelled(EventData):
    """The originator withdrew a referral before anyone accepted it (on RECEIVED)."""

    TYPE = "uk.vrp.referral.cancelled.v1"
    referral_id: str
    source_org: str
    reason: str
    cancelled_at: datetime


class PartnerReferralCancelled(EventData):
    """Tells a receiving organisation that a referral it holds was withdrawn."""

    TYPE = "uk.vrp.partner.referral-cancelled.v1"
    referral_id: str
    reference: str
    intervention: str
    reason: str
    cancelled_at: datetime


class PartnerReferralStatus(EventData):
    """What happened to a referral an organisation sent: routed, held, a receiver's response,
    or cancelled. Ids and codes only, never the person's details."""

    TYPE = "uk.vrp.partner.referral-status.v1"
    referral_id: str
    reference: str
    status: Literal[
        "routed", "held", "accepted", "declined", "in-progress", "completed", "cancelled"
    ]
    organisation: str | None = None
    intervention: str | None = None
    reason: str | None = None
    outcome: str | None = None
    at: datetime


class ReferrerUpdate(EventData):
    """A status change for the referrer, on the internal UPDATES topic: the same update its
    partner status topic carries, with whom it is for (so the notifier, which must not read
    partner topics, can tell referrers who have no Kafka consumer)."""

    TYPE = "uk.vrp.referral.referrer-update.v1"
    referrer: str
    update: PartnerReferralStatus


class ReferralResponded(EventData):
    """A receiving organisation changed its response to a referral (on STATUS)."""

    TYPE = "uk.vrp.referral.responded.v1"
    referral_id: str
    organisation: str
    intervention: str
    status: Literal["accepted", "declined", "in-progress", "completed"]
    reason: str | None = None
    outcome: str | None = None
    responded_at: datetime


class AlertSent(EventData):
    """The notifier delivered an alert to a receiving team (ids only)."""

    TYPE = "uk.vrp.referral.alert-sent.v1"
    referral_id: str
    notification_id: str
    organisation: str
    channel: Channel
    sent_at: datetime
    kind: AlertKind = "new-referral"


class ReferralEscalated(EventData):
    """Nobody accepted a routed referral in time: the hub was told, and a fallback
    intervention (if configured) is to be offered it through the router (ids only)."""

    TYPE = "uk.vrp.referral.escalated.v1"
    referral_id: str
    organisation: str
    intervention: str
    fallback: str | None
    escalated_at: datetime
    original_offer: Literal["keep", "withdraw"] = "keep"
    """What the escalation does to the unaccepted offer (the intervention's `on_escalation`):
    keep it open, or withdraw it (intake cancels it with reason `escalated`)."""


class ReferralReoffered(EventData):
    """Retired: the offer command (vrp/events/commands.py) replaced it. Intake asked the
    router to offer a referral to an intervention; the router still accepts the ones left
    on the topic ('previous' = 'hub-triage' meant the hub asked, else an escalation)."""

    TYPE = "uk.vrp.referral.reoffered.v1"
    referral: ReferralV1
    intervention: str
    previous: str


class DeadLetterV1(EventData):
    """Retired: no longer published, because `original` carried the whole event, personal
    data included. Its schema stays for the v1 letters still on the topic."""

    TYPE = "uk.vrp.dead-letter.v1"
    consumer: str
    topic: str
    position: str
    event_id: str | None
    reason: str
    original: str


class DeadLetter(EventData):
    """An event a consumer could not process: where it was and why (the reason never quotes
    the data). The original is not here: it is kept in the restricted
    dead_letter_originals table under `original_ref`."""

    TYPE = "uk.vrp.dead-letter.v2"
    consumer: str
    topic: str
    position: str
    event_id: str | None
    reason: str
    original_ref: str


ALL_EVENTS: tuple[type[EventData], ...] = (
    ReferralReceived,
    ReferralReceivedV1,
    ReferralCancelled,
    ReferralDecided,
    PartnerReferral,
    HeldForTriage,
    PartnerReferralCancelled,
    PartnerReferralStatus,
    ReferralResponded,
    ReferrerUpdate,
    AlertSent,
    ReferralEscalated,
    ReferralReoffered,
    DeadLetter,
    # Retired, yet still documented: readers of the topic may meet old v1 letters.
    DeadLetterV1,
)
