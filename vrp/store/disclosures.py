"""What was disclosed under each agreement flow, read back for the information-governance
lead: counts per flow, and the disclosures of one flow (ids, items and dates, never the
data disclosed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from vrp.store.tables import disclosures, referrals
from vrp.store.unit import Unit

FlowKey = tuple[str, int, str]
"""(agreement id, agreement version, flow id)."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure: of which referral, to whom, which items, under which version."""

    event_id: str
    referral_id: str
    reference: str | None  # None once the referral itself is gone
    organisation: str
    intervention: str
    agreement_version: int
    items: list[Any] | None
    config_version: str
    disclosed_at: datetime


async def counts(unit: Unit) -> dict[FlowKey, int]:
    """How many disclosures each agreement flow (by version) has carried."""
    t = disclosures.c
    rows = await unit.conn.execute(
        select(t.agreement_id, t.agreement_version, t.flow_id, func.count()).group_by(
            t.agreement_id, t.agreement_version, t.flow_id
        )
    )
    return {(r[0], int(r[1]), r[2]): int(r[3]) for r in rows}


async def of_flow(
    unit: Unit, agreement_id: str, flow_id: str, version: int | None, limit: int
) -> tuple[int, list[Disclosure]]:
    """How many disclosures one flow (of a version, if given) carried; the newest `limit`."""
    t = disclosures.c
    where = [t.agreement_id == agreement_id, t.flow_id == flow_id]
    if version is not None:
        where.append(t.agreement_version == version)
    total = (await unit.conn.execute(select(func.count()).where(*where))).scalar_one()
    rows = await unit.conn.execute(
        select(
            t.event_id,
            t.referral_id,
            referrals.c.reference,
            t.organisation,
            t.intervention,
            t.agreement_version,
            t["items"],  # t.items is the collection's own method
            t.config_version,
            t.disclosed_at,
        )
        .select_from(disclosures.outerjoin(referrals, referrals.c.id == t.referral_id))
        .where(*where)
        .order_by(t.disclosed_at.desc(), t.event_id)
        .limit(limit)
    )
    return int(total), [Disclosure(**r._mapping) for r in rows]
