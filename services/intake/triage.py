"""The hub's triage: route a held or declined referral by hand, or close it.

Manual routing is checked here with the routing engine (the same eligibility, consent and
agreement checks as automatic routing) so the coordinator is told at once when no agreement
permits it; the router checks again, minimises afresh and records the disclosure, exactly
as for an escalation's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.changes import withdraw
from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.audit import MANUAL_ROUTING, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import offer
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.facts import Facts
from vrp.domain.hub_view import for_the_hub
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import LifecycleViolation, ReferralState
from vrp.domain.referral import Referral
from vrp.events import topics
from vrp.events.commands import OfferReferral
from vrp.events.envelope import Envelope
from vrp.store import offers, referrals
from vrp.store.database import Database
from vrp.store.unit import Unit, unit_of_work

TRIAGED = (ReferralState.HELD, ReferralState.DECLINED)
"""Referrals the hub may route by hand: nobody could lawfully take them, or all declined."""
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


async def _triaged(unit: Unit, referral_id: str) -> tuple[str, Referral]:
    row = await referrals.lock(unit, referral_id)
    if row is None:
        raise NotFound
    if row.status not in TRIAGED:
        raise Conflict(f"the referral is {row.status}; the hub acts only on held or declined ones")
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
        _, referral = await _triaged(unit, referral_id)
        if await offers.offered(unit, referral_id, intervention):
            raise Conflict("the referral was already offered to this intervention")
        source = config.organisation(referral.source_org)
        if source is None:
            raise Conflict("the referring organisation is no longer in the configuration")
        today = datetime.now(UTC).date()
        facts = Facts.of(referral, source.kind, today)
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
