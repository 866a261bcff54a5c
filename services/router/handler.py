"""Consume a received referral, decide, and store the decision with its events atomically."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision
from vrp.domain.engine import Facts, decide
from vrp.domain.identifiers import pseudonym, reference
from vrp.domain.referral import Referral
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferral, RecipientSummary, ReferralDecided, ReferralReceived
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.tables import decisions, routed, subject_index
from vrp.transport.worker import PoisonEvent

PRODUCER = "router"
SOURCE = "/vrp/router"


def subject_pseudonym(key: bytes, referral: Referral) -> str:
    """Links referrals of one person across organisations without keeping identifiers."""
    s = referral.submission.subject
    if s.nhs_number:
        return pseudonym(key, "nhs", s.nhs_number)
    name = " ".join(f"{s.given_name} {s.family_name}".lower().split())
    return pseudonym(key, "name-dob", name, s.date_of_birth.isoformat())


class RouterHandler:
    """The router's event handler; configuration comes from a provider so it can hot-reload."""

    def __init__(
        self, db: Database, configuration: Callable[[], RoutingConfiguration], key: bytes
    ) -> None:
        self._db = db
        self._configuration = configuration
        self._key = key

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event from the received-referrals topic."""
        if envelope.type != ReferralReceived.TYPE:
            raise PoisonEvent(f"router cannot handle event type {envelope.type}")
        referral = envelope.payload(ReferralReceived).referral
        done = await conn.execute(
            select(decisions.c.referral_id).where(decisions.c.referral_id == referral.id)
        )
        if done.first() is not None:
            return  # decided already under another event id (e.g. a replayed outbox row)
        config = self._configuration()
        source = config.organisation(referral.source_org)
        if source is None:
            raise PoisonEvent("referral from an organisation not in the configuration")
        received_at = datetime.fromisoformat(referral.received_at)
        key = subject_pseudonym(self._key, referral)
        facts = Facts(
            referral=referral,
            source_kind=source.kind,
            today=received_at.date(),
            prior_referrals=await self._priors(conn, key, referral.id, received_at),
            load=await self._load(conn, config),
        )
        decision = decide(facts, config, self._key)
        await self._store(conn, decision, envelope.id, key, received_at)
        await self._publish(conn, decision, referral, config, received_at)

    async def _priors(
        self, conn: AsyncConnection, key: str, referral_id: str, at: datetime
    ) -> tuple[date, ...]:
        rows = await conn.execute(
            select(subject_index.c.referred_at).where(
                subject_index.c.pseudonym == key,
                subject_index.c.referral_id != referral_id,
                subject_index.c.referred_at <= at,
            )
        )
        return tuple(r[0].date() for r in rows)

    async def _load(self, conn: AsyncConnection, config: RoutingConfiguration) -> dict[str, int]:
        limited = [i.id for i in config.interventions if i.capacity is not None]
        if not limited:
            return {}
        rows = await conn.execute(
            select(routed.c.intervention, func.count())
            .where(routed.c.intervention.in_(limited), routed.c.status == "open")
            .group_by(routed.c.intervention)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def _store(
        self, conn: AsyncConnection, decision: Decision, cause: str, key: str, at: datetime
    ) -> None:
        detail = decision.model_dump(mode="json", exclude={"recipients": {"__all__": {"payload"}}})
        await conn.execute(
            decisions.insert().values(
                referral_id=decision.referral_id,
                event_id=cause,
                config_version=decision.config_version,
                outcome=decision.outcome,
                detail=detail,
                decided_at=datetime.now(at.tzinfo),
            )
        )
        await conn.execute(
            subject_index.insert().values(
                pseudonym=key, referral_id=decision.referral_id, referred_at=at
            )
        )
        for r in decision.recipients:
            await conn.execute(
                routed.insert().values(
                    referral_id=decision.referral_id,
                    intervention=r.intervention,
                    organisation=r.organisation,
                    status="open",
                )
            )

    async def _publish(
        self,
        conn: AsyncConnection,
        decision: Decision,
        referral: Referral,
        config: RoutingConfiguration,
        received_at: datetime,
    ) -> None:
        ref = reference_of(referral)
        for r in decision.recipients:
            intervention = config.intervention(r.intervention)
            assert intervention is not None
            event = PartnerReferral(
                referral_id=referral.id,
                reference=ref,
                intervention=r.intervention,
                intervention_title=intervention.title,
                from_organisation=referral.source_org,
                agreement_id=r.agreement_id,
                agreement_version=r.agreement_version,
                flow_id=r.flow_id,
                respond_by=received_at + timedelta(hours=intervention.acceptance_sla_hours),
                data=r.payload,
            )
            await outbox.add(
                conn,
                PRODUCER,
                topics.partner_referrals(r.organisation),
                referral.id,
                Envelope.wrap(event, SOURCE, referral.id),
            )
        decided = ReferralDecided(
            referral_id=referral.id,
            reference=ref,
            source_org=referral.source_org,
            outcome=decision.outcome,
            config_version=decision.config_version,
            recipients=[
                RecipientSummary.model_validate(r.model_dump(exclude={"payload"}))
                for r in decision.recipients
            ],
            held_reasons=decision.held_reasons,
            decided_at=datetime.now(received_at.tzinfo),
        )
        envelope = Envelope.wrap(decided, SOURCE, referral.id)
        await outbox.add(conn, PRODUCER, topics.DECIDED, referral.id, envelope)
        if decision.outcome == "held":
            held = Envelope.wrap(decided, SOURCE, referral.id)
            await outbox.add(conn, PRODUCER, topics.HELD, referral.id, held)


def reference_of(referral: Referral) -> str:
    """The human reference of a referral id."""
    return reference(uuid.UUID(referral.id))
