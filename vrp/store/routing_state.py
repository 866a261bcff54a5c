"""What routing decisions depend on besides the referral: open places per intervention
and each person's earlier referrals (the router's tables)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import func, select

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.facts import Facts
from vrp.domain.lifecycle import RecipientState
from vrp.domain.referral import Referral
from vrp.store.tables import routed, subject_index
from vrp.store.unit import Unit

OPEN = (RecipientState.AWAITING, RecipientState.ACCEPTED, RecipientState.IN_PROGRESS)
"""States of a routed referral that still hold a place in the intervention's capacity."""


async def open_load(unit: Unit, config: RoutingConfiguration) -> dict[str, int]:
    """Referrals holding a place, per intervention with a capacity."""
    limited = [i.id for i in config.interventions if i.capacity is not None]
    if not limited:
        return {}
    rows = await unit.conn.execute(
        select(routed.c.intervention, func.count())
        .where(routed.c.intervention.in_(limited), routed.c.status.in_(OPEN))
        .group_by(routed.c.intervention)
    )
    return {r[0]: int(r[1]) for r in rows}


async def offer_facts(
    unit: Unit, config: RoutingConfiguration, referral: Referral, today: date
) -> Facts | None:
    """The facts an offer to one named intervention is checked on (`engine.offer`): the
    referral's, and the places taken now, so capacity counts. The router offering a referral
    (hand routing, a fallback) and the hub's console checking it beforehand both call this;
    None when the sender is no longer in the configuration."""
    source = config.organisation(referral.source_org)
    if source is None:
        return None
    return Facts.of(referral, source.kind, today, (), await open_load(unit, config))


async def earlier_referrals(
    unit: Unit, subjects: Collection[str], since: datetime
) -> dict[str, list[date]]:
    """The days each person (by pseudonym) was referred on or after `since`."""
    history = await unit.conn.execute(
        select(subject_index.c.pseudonym, subject_index.c.referred_at).where(
            subject_index.c.pseudonym.in_(list(subjects)), subject_index.c.referred_at >= since
        )
    )
    out: dict[str, list[date]] = {}
    for pseudo, at in history:
        out.setdefault(pseudo, []).append(at.date())
    return out


def repeat_window(config: RoutingConfiguration) -> int:
    """The longest look-back (days) of any repeat-referral rule; 0 when none."""
    return max((r.when.repeat.within_days for r in config.rules if r.when.repeat), default=0)
