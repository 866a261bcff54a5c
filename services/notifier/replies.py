"""FHIR replies: a referrer that registered a FHIR endpoint and lists `fhir` in its
`updates` hears of every status change of a referral it sent through the FHIR door as a
BaRS `servicerequest-response` message. This stages them; `fhir.py` sends them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifier import staging
from services.notifier.channels import Reply
from vrp.domain import lifecycle
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.domain.vocabulary import UpdateChannel
from vrp.events.models import PartnerReferralStatus
from vrp.store import decisions, fhir_messages, referrals
from vrp.store.decisions import Offer
from vrp.store.notifications import NewAlert
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery

FHIR: UpdateChannel = "fhir"


@dataclass(frozen=True)
class Change:
    """A status change for a referrer with `fhir` among its updates, to reply to if the
    referral came through the FHIR door."""

    delivery: Delivery
    referrer: str
    update: PartnerReferralStatus
    key: str
    detail: dict[str, Any]
    """The status alert's own detail (codes only); the reply is added to it."""


async def stage(
    unit: Unit, config: RoutingConfiguration, changes: Sequence[Change], now: datetime
) -> list[NewAlert]:
    """One reply per change whose referral its referrer sent through the FHIR door; three
    reads for the whole run, none when no change is for a FHIR referrer."""
    if not changes:
        return []
    ids = {c.update.referral_id for c in changes}
    talks = await fhir_messages.conversations(unit, ids)
    if not talks:
        return []  # all sent as JSON: nothing to reply to
    offers = await decisions.offers(unit, talks.keys())
    received = await referrals.received_at(unit, list(talks))
    staged: list[NewAlert] = []
    for c in changes:
        rid = c.update.referral_id
        talk = talks.get(rid)
        if talk is None or talk.source_org != c.referrer or rid not in received:
            continue
        reply = _reply(c.update, talk, offers.get(rid, []), received[rid], now)
        with c.delivery.current():  # each reply continues its referral's trace
            staged += staging.alerts(
                config,
                c.referrer,
                [FHIR],
                "status",
                c.key,
                rid,
                {**c.detail, "fhir": reply.detail()},
                now,
            )
    return staged


def _reply(
    s: PartnerReferralStatus,
    talk: fhir_messages.Conversation,
    offers: list[Offer],
    received_at: datetime,
    now: datetime,
) -> Reply:
    task = task_status(s)
    offer = next(
        (o for o in offers if (o.organisation, o.intervention) == (s.organisation, s.intervention)),
        None,
    )
    return Reply(
        bundle_id=talk.bundle_id,
        service_request_id=talk.service_request_id,
        correlation_id=talk.correlation_id,
        category=talk.category,
        referral_status=referral_status(s, offers),
        received_at=received_at,
        changed_at=s.at,
        assembled_at=now,
        organisation=s.organisation if task else None,
        task_status=task,
        reason=s.reason if s.status == "declined" else None,
        outcome=s.outcome if s.status == "completed" else None,
        offered_at=(offer.offered_at if offer else None) or s.at,
    )


def task_status(s: PartnerReferralStatus) -> str | None:
    """The changed organisation's response state (routed: the offer awaits it); None when
    the change is the whole referral's (held, cancelled)."""
    if s.organisation is None or s.intervention is None or s.status in ("held", "cancelled"):
        return None
    return str(RecipientState.AWAITING) if s.status == "routed" else s.status


def referral_status(s: PartnerReferralStatus, offers: list[Offer]) -> str:
    """The referral's state once this change was made: its offers as the router holds them,
    this change's own offer as the change says (a later change has its own reply)."""
    if s.status in ("cancelled", "held"):
        return s.status
    states = {(o.organisation, o.intervention): o.status for o in offers}
    task = task_status(s)
    if task is not None:
        states[(s.organisation or "", s.intervention or "")] = RecipientState(task)
    return str(lifecycle.referral_state(ReferralState.ROUTED, states.values()))
