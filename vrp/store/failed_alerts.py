"""What the operator repairs by hand (`vrp alerts`): alerts that failed for good, sent again
on request, and webhook endpoints disabled after 410 Gone, enabled again once fixed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update

from vrp.store.tables import disabled_endpoints, notifications
from vrp.store.unit import Unit


@dataclass(frozen=True, slots=True)
class FailedAlert:
    """An alert the notifier gave up on: which referral, to whom, how, and the last error."""

    id: str
    referral_id: str
    organisation: str
    channel: str
    kind: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DisabledWebhook:
    """A webhook endpoint nothing is sent to any more, and since when."""

    organisation: str
    url: str
    disabled_at: datetime


async def failed(unit: Unit, limit: int) -> list[FailedAlert]:
    """The oldest `limit` alerts that failed for good, oldest first."""
    n = notifications.c
    rows = await unit.conn.execute(
        select(n.id, n.referral_id, n.organisation, n.channel, n.kind, n.attempts, n.last_error)
        .where(n.status == "failed")
        .order_by(n.created_at)
        .limit(limit)
    )
    return [FailedAlert(**r._mapping) for r in rows]


async def disabled_webhooks(unit: Unit) -> list[DisabledWebhook]:
    """Every disabled webhook endpoint."""
    d = disabled_endpoints.c
    rows = await unit.conn.execute(select(d.organisation, d.url, d.disabled_at))
    return [DisabledWebhook(**r._mapping) for r in rows]


async def send_again(
    unit: Unit, now: datetime, ids: Collection[str] = (), organisation: str | None = None
) -> int:
    """Queue failed alerts (by ids, else of organisation) to be sent afresh; how many."""
    # Neither ids nor organisation: every failed alert (`vrp alerts retry` asks for one).
    scope: ColumnElement[bool] = notifications.c.status == "failed"
    if ids:
        scope &= notifications.c.id.in_(list(ids))
    elif organisation:
        scope &= notifications.c.organisation == organisation
    result = await unit.conn.execute(
        update(notifications).where(scope).values(status="pending", attempts=0, next_attempt_at=now)
    )
    return int(result.rowcount)


async def enable_webhooks(unit: Unit, organisation: str) -> int:
    """Enable every disabled webhook endpoint of an organisation again; how many."""
    result = await unit.conn.execute(
        delete(disabled_endpoints).where(disabled_endpoints.c.organisation == organisation)
    )
    return int(result.rowcount)
