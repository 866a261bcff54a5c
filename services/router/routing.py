"""Decide a received referral and store the decision, its audit trail and its events at once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from vrp.domain import sla
from vrp.domain.audit import DISCLOSURE, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision, Recipient
from vrp.domain.engine import FALLBACK, decide, offer, unknown_source
from vrp.domain.facts import Facts
from vrp.domain.identifiers import reference
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.referral import Referral
from vrp.domain.subjects import subject_pseudonym as subject_pseudonym  # re-exported
from vrp.events import topics, wiring
from vrp.events.commands import OfferReferral
from vrp.events.envelope import Envelope
from vrp.events.models import (
    HeldForTriage,
    PartnerReferral,
    PartnerReferralStatus,
    RecipientSummary,
    ReferralDecided,
    ReferrerUpdate,
)
from vrp.store import decisions
from vrp.store.routing_state import earlier_referrals, offer_facts, open_load, repeat_window
from vrp.store.unit import Unit

PRODUCER = wiring.ROUTER.name
SOURCE = "/vrp/router"


class RoutingBatch:
    """Routes many referrals with a handful of statements: look up, decide, stage (the unit
    of work writes each table's rows with one statement)."""

    def __init__(
        self, unit: Unit, config: RoutingConfiguration, key: bytes, speed: int = 1
    ) -> None:
        self.unit = unit
        self.config = config
        self.key = key
        self.speed = speed
        self._decided: set[str] = set()
        self._priors: dict[str, list[date]] = {}
        self._load: dict[str, int] = {}
        self._window = repeat_window(config)

    async def prepare(self, referrals: list[Referral]) -> None:
        """Fetch what the batch's decisions depend on: earlier decisions, history, load."""
        self._decided = await decisions.decided(self.unit, [r.id for r in referrals])
        if self._window:
            subjects = {subject_pseudonym(self.key, r) for r in referrals}
            earliest = min(datetime.fromisoformat(r.received_at) for r in referrals)
            since = earliest - timedelta(days=self._window + 1)
            self._priors.update(await earlier_referrals(self.unit, subjects, since))
        self._load = await open_load(self.unit, self.config)

    def route(self, referral: Referral, cause: str) -> Decision | None:
        """Decide one referral and stage its rows and events; None if decided before."""
        if referral.id in self._decided:
            return None  # a replayed event: the first decision stands
        source = self.config.organisation(referral.source_org)
        received_at = datetime.fromisoformat(referral.received_at)
        subject = subject_pseudonym(self.key, referral)
        history = self._priors.setdefault(subject, [])
        facts: Facts | None = None
        if source is None:
            # Removed by a reload while its referral was in flight: held for the hub,
            # never dead-lettered (intake refuses new ones from it).
            decision = unknown_source(referral.id, referral.source_org, self.config)
        else:
            facts = Facts.of(
                referral,
                source.kind,
                received_at.date(),
                tuple(sorted(d for d in history if d <= received_at.date())),
                dict(self._load),
            )
            decision = decide(facts, self.config, self.key, referral)
        self._decided.add(referral.id)
        history.append(received_at.date())
        decisions.stage_decision(
            self.unit, decision, cause, facts, subject, referral.id, received_at
        )
        for r in decision.recipients:
            self._load[r.intervention] = self._load.get(r.intervention, 0) + 1
        _publish(self.unit, self.config, decision, referral, received_at, subject, self.speed)
        return decision


async def route(
    unit: Unit,
    config: RoutingConfiguration,
    key: bytes,
    referral: Referral,
    cause: str,
    speed: int = 1,
) -> Decision | None:
    """Route one referral unless it was decided (or cancelled) already."""
    batch = RoutingBatch(unit, config, key, speed)
    await batch.prepare([referral])
    decision = batch.route(referral, cause)
    await unit.flush()
    return decision


async def offer_as_asked(
    unit: Unit, config: RoutingConfiguration, key: bytes, command: OfferReferral, speed: int = 1
) -> Decision | None:
    """Offer a referral to the intervention the command names, unless it was withdrawn or
    offered there already: the same checks as routing, and a new minimised disclosure."""
    referral = command.referral
    earlier = await decisions.outcome(unit, referral.id)
    if earlier is None or earlier == "cancelled":
        return None
    if await decisions.offered(unit, referral.id, command.intervention):
        return None  # a redelivered offer, or a fallback chain that loops back
    # The hub routing by hand is recorded as such; an escalation's offer as its fallback.
    rule = HUB_TRIAGE if command.requested_by == "hub" else FALLBACK
    return await offer_to(unit, config, key, referral, command.intervention, rule, speed)


async def offer_to(
    unit: Unit,
    config: RoutingConfiguration,
    key: bytes,
    referral: Referral,
    intervention_id: str,
    rule: str = FALLBACK,
    speed: int = 1,
) -> Decision:
    """Offer a referral to one named intervention, in the caller's transaction: checked by
    eligibility, both consent rules and an agreement flow (`engine.offer`), minimised for
    the provider, and published with its disclosure records; `rule` names who offered it
    (an escalation's fallback, or the hub routing by hand). The caller checks the referral
    is still open and not offered there already."""
    now = datetime.now(UTC)
    facts = await offer_facts(unit, config, referral, now.date())
    if facts is None:
        decision = unknown_source(referral.id, referral.source_org, config)
    else:
        decision = offer(facts, config, key, referral, intervention_id, rule)
    decisions.stage_offers(unit, referral.id, decision.recipients)
    subject = subject_pseudonym(key, referral)
    _publish(unit, config, decision, referral, now, subject, speed, cause="fallback")
    await unit.flush()
    return decision


def _publish(
    w: Unit,
    config: RoutingConfiguration,
    decision: Decision,
    referral: Referral,
    received_at: datetime,
    subject: str,
    speed: int,
    cause: Literal["received", "fallback"] = "received",
) -> None:
    """Stage what a decision publishes: disclosures, the decision, the sender's updates."""
    ref = reference(uuid.UUID(referral.id))
    # Decided before anything is published: timelines show "routed", then "delivered".
    decided_at = datetime.now(UTC)
    # Respond-by counts from the offer, never from an earlier receipt: a referral routed
    # late (a router backlog, a short demo-clock allowance) is never due before it arrives.
    received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    offered_at = max(received, decided_at)
    due = _disclose_to_recipients(w, config, decision, referral, ref, offered_at, subject, speed)
    if decision.outcome == "held" and cause == "received":
        _disclose_to_hub(w, config, decision, referral, ref, received_at, subject)
    decided = _decided(decision, referral, ref, due, decided_at, cause)
    w.event(PRODUCER, topics.DECIDED, referral.id, Envelope.wrap(decided, SOURCE, referral.id))
    if cause == "fallback" and decision.outcome == "held":
        return  # still routed to the first intervention; the hub hears of it by alert
    if config.organisation(referral.source_org) is None:
        # A sender the configuration no longer has: it has no status topic (nor contacts)
        # any more; it follows the referral through intake's status view.
        return
    _tell_sender(w, decision, referral, ref)


def _disclose_to_recipients(
    w: Unit,
    config: RoutingConfiguration,
    decision: Decision,
    referral: Referral,
    ref: str,
    offered_at: datetime,
    subject: str,
    speed: int,
) -> dict[str, datetime]:
    """Each recipient's minimised copy; when each must respond by (the demo clock's speed
    shortens the allowance)."""
    due: dict[str, datetime] = {}
    for r in decision.recipients:
        intervention = config.intervention(r.intervention)
        assert intervention is not None
        due[r.intervention] = sla.respond_by(offered_at, intervention, speed)
        _disclose(w, decision, referral, ref, r, intervention.title, due[r.intervention], subject)
    return due


def _disclose_to_hub(
    w: Unit,
    config: RoutingConfiguration,
    decision: Decision,
    referral: Referral,
    ref: str,
    received_at: datetime,
    subject: str,
) -> None:
    """The hub's copy of a held referral: what the sender's hub-triage flow lets it read
    (ids and reasons only, without one), and the records of that disclosure."""
    hub = decision.hub or Recipient(
        organisation=config.hub,
        intervention=HUB_TRIAGE,
        agreement_id="",
        agreement_version=0,
        flow_id="",
        items=[],
        payload={},
    )
    copy = HeldForTriage(
        referral_id=referral.id,
        reference=ref,
        from_organisation=referral.source_org,
        agreement_id=hub.agreement_id,
        agreement_version=hub.agreement_version,
        flow_id=hub.flow_id,
        received_at=received_at,
        data=hub.payload,
        held_reasons=decision.hub_reasons,
    )
    _send(w, decision, referral, hub, copy, subject)


def _decided(
    decision: Decision,
    referral: Referral,
    ref: str,
    due: dict[str, datetime],
    decided_at: datetime,
    cause: Literal["received", "fallback"],
) -> ReferralDecided:
    """The decision event (no personal data)."""
    return ReferralDecided(
        referral_id=referral.id,
        reference=ref,
        source_org=referral.source_org,
        outcome=decision.outcome,
        config_version=decision.config_version,
        recipients=[
            RecipientSummary(
                organisation=r.organisation,
                intervention=r.intervention,
                agreement_id=r.agreement_id,
                agreement_version=r.agreement_version,
                flow_id=r.flow_id,
                items=r.items,
                respond_by=due[r.intervention],
            )
            for r in decision.recipients
        ],
        held_reasons=decision.held_reasons,
        hub_reasons=decision.hub_reasons,
        decided_at=decided_at,
        urgency=referral.submission.risk,
        cause=cause,
    )


def _tell_sender(w: Unit, decision: Decision, referral: Referral, ref: str) -> None:
    """The sender follows its referral on its own status topic (ids and codes only), and
    the notifier gets the same updates to alert referrers without reading their topics."""
    now = datetime.now(UTC)
    updates = [
        PartnerReferralStatus(
            referral_id=referral.id,
            reference=ref,
            status="routed",
            organisation=r.organisation,
            intervention=r.intervention,
            at=now,
        )
        for r in decision.recipients
    ] or [
        PartnerReferralStatus(
            referral_id=referral.id,
            reference=ref,
            status="held",
            reason="; ".join(decision.held_reasons),
            at=now,
        )
    ]
    for update in updates:
        w.event(
            PRODUCER,
            topics.partner_status(referral.source_org),
            referral.id,
            Envelope.wrap(update, SOURCE, referral.id),
        )
        w.event(
            PRODUCER,
            topics.UPDATES,
            referral.id,
            Envelope.wrap(
                ReferrerUpdate(referrer=referral.source_org, update=update), SOURCE, referral.id
            ),
        )


def _disclose(
    w: Unit,
    decision: Decision,
    referral: Referral,
    ref: str,
    r: Recipient,
    title: str,
    respond_by: datetime,
    subject: str,
) -> None:
    """Stage one minimised offer and the records of its disclosure (same transaction)."""
    event = PartnerReferral(
        referral_id=referral.id,
        reference=ref,
        intervention=r.intervention,
        intervention_title=title,
        from_organisation=referral.source_org,
        agreement_id=r.agreement_id,
        agreement_version=r.agreement_version,
        flow_id=r.flow_id,
        respond_by=respond_by,
        data=r.payload,
    )
    _send(w, decision, referral, r, event, subject)


def _send(
    w: Unit,
    decision: Decision,
    referral: Referral,
    r: Recipient,
    event: PartnerReferral | HeldForTriage,
    subject: str,
) -> None:
    """Stage a recipient's copy on its partner topic, and the records of the disclosure when
    the copy carries personal data."""
    event_id = w.event(
        PRODUCER,
        topics.partner_referrals(r.organisation),
        referral.id,
        Envelope.wrap(event, SOURCE, referral.id),
    )
    if r.items:
        _record_disclosure(w, decision, referral, event_id, r, subject)


def _record_disclosure(
    w: Unit, decision: Decision, referral: Referral, event_id: str, r: Recipient, subject: str
) -> None:
    """The disclosure row and its audit record for one copy that carried personal data."""
    decisions.stage_disclosure(w, event_id, referral.id, r, decision.config_version)
    w.audit(
        Entry(
            DISCLOSURE,
            f"service:{PRODUCER}",
            referral.id,
            subject,
            {
                "event_id": event_id,
                "organisation": r.organisation,
                "intervention": r.intervention,
                "agreement_id": r.agreement_id,
                "agreement_version": r.agreement_version,
                "flow_id": r.flow_id,
                "items": [str(i) for i in r.items],
                "config_version": decision.config_version,
            },
        )
    )
