"""The router's record of what it decided: decisions, the offers it made (`routed`), the
disclosures they made and the keyed subject index, all staged through the unit of work."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update

from vrp.domain.decision import Decision, Recipient
from vrp.domain.facts import Facts
from vrp.domain.lifecycle import RecipientState
from vrp.store.routing_state import OPEN
from vrp.store.tables import decisions, disclosures, routed, subject_index
from vrp.store.unit import Unit


async def decided(unit: Unit, referral_ids: Collection[str]) -> set[str]:
    """Which of these referrals have a decision (or were cancelled before one)."""
    rows = await unit.conn.execute(
        select(decisions.c.referral_id).where(decisions.c.referral_id.in_(list(referral_ids)))
    )
    return {r[0] for r in rows}


async def outcome(unit: Unit, referral_id: str) -> str | None:
    """The referral's decided outcome ('routed', 'held', 'cancelled'), None if undecided."""
    row = (
        await unit.conn.execute(
            select(decisions.c.outcome).where(decisions.c.referral_id == referral_id)
        )
    ).first()
    return None if row is None else str(row.outcome)


async def routed_source(unit: Unit, referral_id: str) -> str | None:
    """The sender of a referral this router routed (None: not routed by it, or cancelled
    before routing, so it recorded no facts)."""
    row = (
        await unit.conn.execute(
            select(decisions.c.facts).where(decisions.c.referral_id == referral_id)
        )
    ).first()
    if row is None or not row.facts:
        return None
    return str(row.facts["source_org"])


def stage_decision(
    unit: Unit,
    decision: Decision,
    cause: str,
    facts: Facts | None,
    subject: str,
    referral_id: str,
    received_at: datetime,
) -> None:
    """Stage a new decision, its subject-index entry and its offers."""
    unit.stage(
        decisions,
        referral_id=referral_id,
        event_id=cause,
        config_version=decision.config_version,
        outcome=decision.outcome,
        detail=decision.to_json(payloads=False),
        facts=facts.to_json() if facts is not None else None,
        chosen=" ".join(r.intervention for r in decision.recipients),
        decided_at=datetime.now(UTC),
    )
    unit.stage(subject_index, pseudonym=subject, referral_id=referral_id, referred_at=received_at)
    stage_offers(unit, referral_id, decision.recipients)


def stage_offers(unit: Unit, referral_id: str, recipients: Collection[Recipient]) -> None:
    """Stage one awaiting offer per recipient."""
    for r in recipients:
        unit.stage(
            routed,
            referral_id=referral_id,
            intervention=r.intervention,
            organisation=r.organisation,
            status=RecipientState.AWAITING,
        )


async def cancelled_before_routing(
    unit: Unit, referral_id: str, config_version: str, reason: str
) -> None:
    """Record a referral withdrawn before it was routed, so it is never routed afterwards."""
    await unit.conn.execute(
        decisions.insert().values(
            referral_id=referral_id,
            event_id="",
            config_version=config_version,
            outcome="cancelled",
            detail={"reason": reason},
            facts=None,
            decided_at=datetime.now(UTC),
        )
    )


async def offered(unit: Unit, referral_id: str, intervention: str) -> bool:
    """True when the referral was offered to the intervention already."""
    row = await unit.conn.execute(
        select(routed.c.status).where(
            routed.c.referral_id == referral_id, routed.c.intervention == intervention
        )
    )
    return row.first() is not None


@dataclass(frozen=True, slots=True)
class Offer:
    """One offer the router made of a referral, where it stands now, and when it was made."""

    organisation: str
    intervention: str
    status: RecipientState
    offered_at: datetime | None


async def offers(unit: Unit, referral_ids: Collection[str]) -> dict[str, list[Offer]]:
    """Every offer of these referrals (one statement). Read by the notifier for the FHIR
    replies: a response's offer is updated in the transaction that tells the referrer."""
    if not referral_ids:
        return {}
    r, d = routed.c, disclosures.c
    made = and_(
        d.referral_id == r.referral_id,
        d.organisation == r.organisation,
        d.intervention == r.intervention,
    )
    rows = await unit.conn.execute(
        select(r.referral_id, r.organisation, r.intervention, r.status, func.min(d.disclosed_at))
        .select_from(routed.outerjoin(disclosures, made))
        .where(r.referral_id.in_(list(referral_ids)))
        .group_by(r.referral_id, r.organisation, r.intervention, r.status)
    )
    out: dict[str, list[Offer]] = {}
    for rid, org, intervention, status, at in rows:
        out.setdefault(rid, []).append(Offer(org, intervention, RecipientState(status), at))
    return out


async def withdraw_open(unit: Unit, referral_id: str) -> list[tuple[str, str]]:
    """Cancel the referral's open offers; the (intervention, organisation) of each."""
    open_offer = (routed.c.referral_id == referral_id, routed.c.status.in_(OPEN))
    holders = [
        (str(h.intervention), str(h.organisation))
        for h in await unit.conn.execute(
            select(routed.c.intervention, routed.c.organisation).where(*open_offer)
        )
    ]
    await unit.conn.execute(update(routed).where(*open_offer).values(status="cancelled"))
    return holders


async def withdraw_one(unit: Unit, referral_id: str, intervention: str, organisation: str) -> None:
    """Cancel one open offer (an escalation withdrew it), freeing its place."""
    await unit.conn.execute(
        update(routed)
        .where(
            routed.c.referral_id == referral_id,
            routed.c.intervention == intervention,
            routed.c.organisation == organisation,
            routed.c.status.in_(OPEN),
        )
        .values(status="cancelled")
    )


async def set_offer_status(
    unit: Unit, referral_id: str, intervention: str, organisation: str, status: str
) -> None:
    """A receiver's response to an offer (declined and completed free its place)."""
    await unit.conn.execute(
        update(routed)
        .where(
            routed.c.referral_id == referral_id,
            routed.c.intervention == intervention,
            routed.c.organisation == organisation,
        )
        .values(status=status)
    )


def stage_disclosure(
    unit: Unit, event_id: str, referral_id: str, r: Recipient, config_version: str
) -> None:
    """Stage the record of one minimised copy sent to a recipient."""
    values: dict[str, Any] = {
        "event_id": event_id,
        "referral_id": referral_id,
        "organisation": r.organisation,
        "intervention": r.intervention,
        "agreement_id": r.agreement_id,
        "agreement_version": r.agreement_version,
        "flow_id": r.flow_id,
        "items": [str(i) for i in r.items],
        "config_version": config_version,
        "disclosed_at": datetime.now(UTC),
    }
    unit.stage(disclosures, **values)
