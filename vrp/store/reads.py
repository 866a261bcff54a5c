"""Who read a referral's detail, and when: its audit records of kind `read`, chained or
still waiting for the sealer (a view shows on the page it was recorded for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, union_all

from vrp.domain.audit import READ
from vrp.store.tables import audit_log, audit_pending
from vrp.store.unit import Unit


@dataclass(frozen=True, slots=True)
class Read:
    """One read of a referral: when, who (`org:<id>/user:<name>` or `org:<id>/key:<id>`),
    and how (`via`: console or api; `operation`: the page or call)."""

    at: datetime
    actor: str
    detail: dict[str, Any]


async def of_referral(unit: Unit, referral_id: str, limit: int = 200) -> list[Read]:
    """The referral's reads, oldest first (the newest `limit` of them). Read in one snapshot
    (`snapshot(db)`), a record being sealed is counted once: before or after its move."""
    columns = (audit_log.c.at, audit_log.c.actor, audit_log.c.detail)
    pending = (audit_pending.c.at, audit_pending.c.actor, audit_pending.c.detail)
    both = union_all(
        select(*columns).where(audit_log.c.referral_id == referral_id, audit_log.c.kind == READ),
        select(*pending).where(
            audit_pending.c.referral_id == referral_id, audit_pending.c.kind == READ
        ),
    ).subquery()
    rows = await unit.conn.execute(select(both).order_by(both.c.at.desc()).limit(limit))
    return sorted((Read(r.at, r.actor, dict(r.detail or {})) for r in rows), key=lambda r: r.at)
