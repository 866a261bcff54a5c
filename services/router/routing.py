"""Decide a received referral and store the decision, its audit trail and its events at once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision, Recipient
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.identifiers import pseudonym, reference
from vrp.domain.referral import Referral
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferral, RecipientSummary, ReferralDecided
from vrp.store import outbox
from vrp.store.tables import decisions, disclosures, routed, subject_index
from vrp.transport.worker import PoisonEvent

PRODUCER = "router"
SOURCE = "/vrp/router"
OPEN = ("open", "accepted", "in-progress")


def subject_pseudonym(key: bytes, referral: Referral) -> str:
    """Links referrals of one person across organisations without keeping identifiers."""
    s = referral.submission.subject
    if s.nhs_number:
        return pseudonym(key, "nhs", s.nhs_number)
    name = " ".join(f"{s.given_name} {s.family_name}".lower().split())
    return pseudonym(key, "name-dob", name, s.date_of_birth.isoformat())


async def route(
    conn: AsyncConnection, config: RoutingConfiguration, key: bytes, referral: Referral, cause: str
) -> Decision | None:
    """Route one referral unless it was decided (or cancelled) already."""
    done = await conn.execute(
        select(decisions.c.referral_id).where(decisions.c.referral_id == referral.id)
    )
    if done.first() is not None:
        return None  # a replayed event: the first decision stands
    source = config.organisation(referral.source_org)
    if source is None:
        raise PoisonEvent("referral from an organisation not in the configuration")
    received_at = datetime.fromisoformat(referral.received_at)
    subject = subject_pseudonym(key, referral)
    facts = Facts.of(
        referral,
        source.kind,
        received_at.date(),
        await _priors(conn, subject, referral.id, received_at),
        await _load(conn, config),
    )
    decision = decide(facts, config, key, referral)
    now = datetime.now(UTC)
    await conn.execute(
        decisions.insert().values(
            referral_id=referral.id,
            event_id=cause,
            config_version=decision.config_version,
            outcome=decision.outcome,
            detail=decision.to_json(payloads=False),
            facts=facts.to_json(),
            chosen=" ".join(r.intervention for r in decision.recipients),
            decided_at=now,
        )
    )
    await conn.execute(
        subject_index.insert().values(
            pseudonym=subject, referral_id=referral.id, referred_at=received_at
        )
    )
    for r in decision.recipients:
        await conn.execute(
            routed.insert().values(
                referral_id=referral.id,
                intervention=r.intervention,
                organisation=r.organisation,
                status="open",
            )
        )
    await _publish(conn, config, decision, referral, received_at)
    return decision


async def _priors(
    conn: AsyncConnection, subject: str, referral_id: str, at: datetime
) -> tuple[date, ...]:
    rows = await conn.execute(
        select(subject_index.c.referred_at).where(
            subject_index.c.pseudonym == subject,
            subject_index.c.referral_id != referral_id,
            subject_index.c.referred_at <= at,
        )
    )
    return tuple(sorted(r[0].date() for r in rows))


async def _load(conn: AsyncConnection, config: RoutingConfiguration) -> dict[str, int]:
    limited = [i.id for i in config.interventions if i.capacity is not None]
    if not limited:
        return {}
    rows = await conn.execute(
        select(routed.c.intervention, func.count())
        .where(routed.c.intervention.in_(limited), routed.c.status.in_(OPEN))
        .group_by(routed.c.intervention)
    )
    return {r[0]: int(r[1]) for r in rows}


async def _publish(
    conn: AsyncConnection,
    config: RoutingConfiguration,
    decision: Decision,
    referral: Referral,
    received_at: datetime,
) -> None:
    ref = reference(uuid.UUID(referral.id))
    for r in decision.recipients:
        intervention = config.intervention(r.intervention)
        assert intervention is not None
        due = received_at + timedelta(hours=intervention.acceptance_sla_hours)
        await _disclose(conn, decision, referral, ref, r, intervention.title, due, [])
    if decision.outcome == "held":
        hub = decision.hub or Recipient(
            organisation=config.hub,
            intervention="hub-triage",
            agreement_id="",
            agreement_version=0,
            flow_id="",
            items=[],
            payload={},
        )
        await _disclose(
            conn, decision, referral, ref, hub, "Hub triage", received_at, decision.held_reasons
        )
    decided = ReferralDecided(
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
            )
            for r in decision.recipients
        ],
        held_reasons=decision.held_reasons,
        decided_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(decided, SOURCE, referral.id)
    await outbox.add(conn, PRODUCER, topics.DECIDED, referral.id, envelope)


async def _disclose(
    conn: AsyncConnection,
    decision: Decision,
    referral: Referral,
    ref: str,
    r: Recipient,
    title: str,
    respond_by: datetime,
    held_reasons: list[str],
) -> None:
    """Publish one minimised referral and record the disclosure in the same transaction."""
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
        held_reasons=held_reasons,
    )
    envelope = Envelope.wrap(event, SOURCE, referral.id)
    await outbox.add(
        conn, PRODUCER, topics.partner_referrals(r.organisation), referral.id, envelope
    )
    if r.items:
        await conn.execute(
            disclosures.insert().values(
                event_id=envelope.id,
                referral_id=referral.id,
                organisation=r.organisation,
                intervention=r.intervention,
                agreement_id=r.agreement_id,
                agreement_version=r.agreement_version,
                flow_id=r.flow_id,
                items=[str(i) for i in r.items],
                config_version=decision.config_version,
                disclosed_at=datetime.now(UTC),
            )
        )
