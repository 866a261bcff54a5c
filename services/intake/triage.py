"""The hub's triage: route a referral by hand, close it, chase its team, or enable a team's
webhook again; each is an audit record naming the person.

Manual routing is checked here with the router's own check (`routing_state.offer_facts` and
`engine.offer`: eligibility, capacity, consent and agreement) so the coordinator is told at
once when it would be refused; the router checks again, minimises afresh and records the
disclosure, exactly as for an escalation's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.changes import withdraw
from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.audit import HUB_ACTION, MANUAL_ROUTING, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import offer
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.hub_view import for_the_hub
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import LifecycleViolation, RecipientState, ReferralState
from vrp.domain.referral import Referral
from vrp.domain.vocabulary import Channel
from vrp.events import topics
from vrp.events.commands import OfferReferral
from vrp.events.envelope import Envelope
from vrp.store import failed_alerts, hub_cases, notifications, offers, referrals
from vrp.store.database import Database
from vrp.store.routing_state import offer_facts
from vrp.store.staged_alerts import alerts
from vrp.store.unit import Unit, unit_of_work

TRIAGED = (ReferralState.HELD, ReferralState.DECLINED)
"""Referrals waiting for the hub: nobody could lawfully take them, or all declined."""
ROUTABLE = (*TRIAGED, ReferralState.ROUTED)
"""Referrals the hub may route by hand: waiting for it, or routed but still awaiting an
answer (escalated: the team did not accept in time)."""
EMAIL_ONLY: tuple[Channel, ...] = ("email",)
"""A chase's channels when the configuration no longer has the intervention."""
_CHASE_DETAIL = ("intervention", "intervention_title", "urgency", "respond_by")
"""What a chase says, as the team's first alert said it (codes and times only)."""
MANUAL_ROUTING_ENTRY = "manual-routing"
"""The timeline entry of the hub asking for a referral to be offered by hand."""


class Refused(Exception):
    """No agreement, eligibility or consent permits this routing; the reasons say why."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Actor:
    """Who acts for the hub, as the audit log and the timeline name them."""

    organisation: str
    name: str


async def _triaged(
    unit: Unit, referral_id: str, states: tuple[ReferralState, ...] = TRIAGED
) -> tuple[str, Referral]:
    row = await referrals.lock(unit, referral_id)
    if row is None:
        raise NotFound
    if row.status not in states:
        raise Conflict(f"the referral is {row.status}; the hub cannot act on it now")
    if row.status == ReferralState.ROUTED:
        awaiting = RecipientState.AWAITING
        if awaiting not in await offers.offer_states(unit, referral_id):
            raise Conflict("the referral is routed and no offer awaits an answer")
    body = await referrals.content(unit, referral_id)
    if body.reduced_at is not None:
        raise Conflict("the referral is past its retention period; nothing is left to route")
    return str(row.status), Referral.model_validate(body.body)


async def route(
    db: Database,
    config: RoutingConfiguration,
    key: bytes,
    actor: Actor,
    referral_id: str,
    intervention: str,
    justification: str,
) -> None:
    """Ask the router to offer a held or declined referral to one intervention, after
    checking that its agreement flow, eligibility and consent permit it."""
    if config.intervention(intervention) is None:
        raise InvalidField("intervention", "is not an intervention in the configuration")
    async with unit_of_work(db) as unit:
        _, referral = await _triaged(unit, referral_id, ROUTABLE)
        if await offers.offered(unit, referral_id, intervention):
            raise Conflict("the referral was already offered to this intervention")
        # The router's own check (capacity included), so "permitted" here is its answer too.
        facts = await offer_facts(unit, config, referral, datetime.now(UTC).date())
        if facts is None:
            raise Conflict("the referring organisation is no longer in the configuration")
        decision = offer(facts, config, key, referral, intervention, HUB_TRIAGE)
        if decision.outcome != "routed":
            # Only what the hub-triage flow lets the hub read (no exact age or area).
            raise Refused(for_the_hub(decision.candidates, facts, config))
        now = datetime.now(UTC)
        detail = {"intervention": intervention, "justification": justification}
        unit.audit(Entry(MANUAL_ROUTING, actor.name, referral_id, None, detail))
        command = OfferReferral(referral=referral, intervention=intervention, requested_by="hub")
        envelope = Envelope.wrap(command, SOURCE, referral_id)
        referrals.add_to_timeline(
            unit,
            envelope.id,
            referral_id,
            MANUAL_ROUTING_ENTRY,
            now,
            detail | {"organisation": actor.organisation},
        )
        unit.event(PRODUCER, topics.RECEIVED, referral_id, envelope)


async def close(db: Database, actor: Actor, referral_id: str, reason: str) -> None:
    """Close a held or declined referral with a coded reason: the referrer is told it was
    cancelled, and nobody may be offered it afterwards."""
    async with unit_of_work(db) as unit:
        status, referral = await _triaged(unit, referral_id)
        # The offers only: the hub's own triage copy is none.
        states = await offers.offer_states(unit, referral_id)
        try:
            lifecycle.close(ReferralState(status), states)
        except LifecycleViolation as exc:
            raise Conflict(str(exc)) from None
        await withdraw(
            unit, referral_id, referral.source_org, reason, "closed", {"by": actor.organisation}
        )
        unit.audit(
            Entry(HUB_ACTION, actor.name, referral_id, None, {"action": "close", "reason": reason})
        )


async def chase(
    db: Database,
    config: RoutingConfiguration,
    actor: Actor,
    referral_id: str,
    intervention: str,
    click: str,
) -> bool:
    """Remind a team that has not answered an offer, now: a reminder alert staged like the
    notifier's own (one per channel), which the notifier sends and records. `click` names
    the button press, so a double submit sends one reminder; False when it was sent before."""
    async with unit_of_work(db) as unit:
        if await referrals.lock(unit, referral_id) is None:
            raise NotFound
        copies = (await offers.for_hub(unit, [referral_id]))[referral_id]
        awaiting = [
            o
            for o in copies.offers
            if o.intervention == intervention and o.status == RecipientState.AWAITING
        ]
        if not awaiting:
            raise Conflict("no offer to that intervention awaits an answer; nobody to chase")
        team = awaiting[0].organisation
        earlier = (await hub_cases.alerts_of(unit, [referral_id]))[referral_id]
        first = next(
            (
                a.detail
                for a in earlier
                if a.kind == "new-referral"
                and a.organisation == team
                and a.detail.get("intervention") == intervention
            ),
            {"intervention": intervention},
        )
        i = config.intervention(intervention)
        detail = {k: v for k, v in first.items() if k in _CHASE_DETAIL} | {"status": "chased"}
        staged = alerts(
            config,
            team,
            i.channels if i else EMAIL_ONLY,
            "reminder",
            f"chase:{click}:{referral_id}:{team}:{intervention}",
            referral_id,
            detail,
            datetime.now(UTC),
        )
        if not staged:
            raise Conflict("the team has no contact to alert")
        if not await notifications.add(unit, staged):
            return False  # this click was handled already
        channels = sorted(a.channel for a in staged)
        info = {
            "action": "chase",
            "organisation": team,
            "intervention": intervention,
            "channels": channels,
        }
        unit.audit(Entry(HUB_ACTION, actor.name, referral_id, None, info))
    return True


async def enable_webhook(db: Database, actor: Actor, referral_id: str, organisation: str) -> int:
    """Enable an organisation's webhook again (disabled after 410 Gone) and send this
    referral's alerts that failed on it again; how many endpoints were enabled."""
    async with unit_of_work(db) as unit:
        if await referrals.lock(unit, referral_id) is None:
            raise NotFound
        enabled = await failed_alerts.enable_webhooks(unit, organisation)
        if not enabled:
            return 0  # enabled already (a second click, or by the operator)
        earlier = (await hub_cases.alerts_of(unit, [referral_id]))[referral_id]
        failed = [
            a.id
            for a in earlier
            if a.organisation == organisation and a.channel == "webhook" and a.status == "failed"
        ]
        now = datetime.now(UTC)
        resent = await failed_alerts.send_again(unit, now, failed) if failed else 0
        info = {
            "action": "enable-webhook",
            "organisation": organisation,
            "endpoints": enabled,
            "resent": resent,
        }
        unit.audit(Entry(HUB_ACTION, actor.name, referral_id, None, info))
    return enabled
