"""What the hub was alerted about (escalations, alerts that could not be delivered), and the
disabled webhooks of the organisations concerned."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vrp.store.referrals import Summary
from vrp.store.tables import disabled_endpoints, notifications, referrals
from vrp.store.unit import Unit

ALERTED = ("escalation", "delivery-failed")
"""The alerts to the hub that make a referral the hub's business whatever its state."""


@dataclass(frozen=True, slots=True)
class HubAlert:
    """One alert about a referral: to whom, what kind, when, and how it went (codes only)."""

    id: str
    referral_id: str
    organisation: str
    channel: str
    kind: str
    status: str
    created_at: datetime
    detail: dict[str, Any]
    last_error: str | None


async def alerts_of(unit: Unit, referral_ids: Sequence[str]) -> dict[str, list[HubAlert]]:
    """Every alert about these referrals (anyone's), oldest first."""
    n = notifications.c
    found: dict[str, list[HubAlert]] = {i: [] for i in referral_ids}
    if not referral_ids:
        return found
    rows = await unit.conn.execute(
        select(
            n.id,
            n.referral_id,
            n.organisation,
            n.channel,
            n.kind,
            n.status,
            n.created_at,
            n.detail,
            n.last_error,
        )
        .where(n.referral_id.in_(list(referral_ids)))
        .order_by(n.created_at, n.id)
    )
    for r in rows:
        found[r.referral_id].append(HubAlert(*r))
    return found


async def alerted_in_states(
    unit: Unit, hub: str, states: Collection[str], limit: int
) -> list[Summary]:
    """Referrals in these states that the hub was alerted about (escalated, or an alert
    about them could not be delivered), oldest first."""
    alerted = select(notifications.c.referral_id).where(
        notifications.c.organisation == hub, notifications.c.kind.in_(ALERTED)
    )
    r = referrals.c
    rows = await unit.conn.execute(
        select(r.id, r.reference, r.status, r.source_org, r.created_at, r.updated_at)
        .where(r.status.in_(list(states)), r.id.in_(alerted))
        .order_by(r.created_at, r.id)
        .limit(limit)
    )
    return [Summary(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Disabled:
    """A webhook endpoint nothing is sent to any more (after 410 Gone), and why."""

    organisation: str
    url: str
    disabled_at: datetime
    reason: str


async def disabled_of(unit: Unit, organisations: Collection[str]) -> list[Disabled]:
    """The disabled webhook endpoints of these organisations."""
    if not organisations:
        return []
    d = disabled_endpoints.c
    rows = await unit.conn.execute(
        select(d.organisation, d.url, d.disabled_at, d.reason)
        .where(d.organisation.in_(sorted(organisations)))
        .order_by(d.organisation, d.url)
    )
    return [Disabled(*r) for r in rows]
