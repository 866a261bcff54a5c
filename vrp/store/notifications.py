"""Alerts: the notifier's rows to send (one per occasion, recipient and channel), each
delivery attempt at them, and the webhook endpoints disabled after 410 Gone.

An alert row carries ids, codes and an address, never personal data. Its status moves
pending -> sending (leased) -> sent, or back to pending for a retry, or to failed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update

from vrp.domain.identifiers import new_id
from vrp.domain.vocabulary import AlertKind, UpdateChannel
from vrp.store.tables import delivery_attempts, disabled_endpoints, notifications
from vrp.store.unit import Unit
from vrp.telemetry import current_traceparent

_TEXT = 200
"""Width of dedupe keys, errors and reasons (longer ones are cut, never refused)."""


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to stage: one occasion, one recipient, one channel."""

    occasion: str
    """Names the occasion and its recipient: with the channel and kind it de-duplicates a
    redelivered event (the same occasion never alerts twice on one channel)."""
    referral_id: str
    organisation: str
    channel: UpdateChannel
    address: str
    kind: AlertKind
    detail: dict[str, Any]
    """What the alert says (codes and times, never personal data), fixed when staged."""
    created_at: datetime
    traceparent: str | None = field(default_factory=current_traceparent)
    """The trace the alert continues: the active span's when it is created."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A leased alert: what to send, to whom, and how many attempts came before this one."""

    id: str
    referral_id: str
    organisation: str
    channel: UpdateChannel
    address: str
    kind: AlertKind
    detail: dict[str, Any]
    attempts: int
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt at one alert (for the hub and on-call: did the receiver answer?)."""

    notification_id: str
    attempt: int
    channel: str
    outcome: str
    status_code: int | None
    latency_ms: int
    error: str | None
    at: datetime


_LEASED = (
    notifications.c.id,
    notifications.c.referral_id,
    notifications.c.organisation,
    notifications.c.channel,
    notifications.c.address,
    notifications.c.kind,
    notifications.c.detail,
    notifications.c.attempts,
    notifications.c.traceparent,
)


async def add(unit: Unit, alerts: Sequence[NewAlert]) -> set[str]:
    """Insert the alerts not staged before, in one statement; returns the new rows' ids."""
    if not alerts:
        return set()
    rows = [
        {
            "id": str(new_id()),
            "dedupe_key": f"{a.occasion}:{a.channel}:{a.kind}"[:_TEXT],
            "referral_id": a.referral_id,
            "organisation": a.organisation,
            "channel": a.channel,
            "address": a.address,
            "kind": a.kind,
            "detail": a.detail,
            "status": "pending",
            "attempts": 0,
            "traceparent": a.traceparent,
            "created_at": a.created_at,
            "next_attempt_at": a.created_at,
        }
        for a in alerts
    ]
    return await unit.db.insert_ignore_returning(unit.conn, notifications, rows, notifications.c.id)


async def claim_due(unit: Unit, now: datetime, limit: int, lease: timedelta) -> list[Notification]:
    """Lease up to limit due alerts, oldest first, counting the attempt (skip-locked)."""
    # Due: pending, or sending with a lapsed lease (its notifier died or stalled).
    due = (
        select(*_LEASED)
        .where(
            notifications.c.status.in_(("pending", "sending")),
            notifications.c.next_attempt_at <= now,
        )
        .order_by(notifications.c.next_attempt_at)
        .limit(limit)
    )
    if not unit.db.is_sqlite:  # SQLite serialises writers, so there is nothing to skip
        due = due.with_for_update(skip_locked=True)
    rows = [Notification(*r) for r in await unit.conn.execute(due)]
    if not rows:
        return []
    await unit.conn.execute(
        update(notifications)
        .where(notifications.c.id.in_([r.id for r in rows]))
        .values(
            status="sending",
            next_attempt_at=now + lease,
            attempts=notifications.c.attempts + 1,
        )
    )
    return rows


async def renew_leases(unit: Unit, ids: list[str], until: datetime) -> None:
    """Extend the lease of those alerts still being sent (one statement)."""
    await unit.conn.execute(
        update(notifications)
        .where(notifications.c.id.in_(ids), notifications.c.status == "sending")
        .values(next_attempt_at=until)
    )


async def disabled_webhooks(unit: Unit, hooks: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (organisation, url) webhook endpoints are disabled."""
    if not hooks:
        return set()
    found = await unit.conn.execute(
        select(disabled_endpoints.c.organisation, disabled_endpoints.c.url).where(
            tuple_(disabled_endpoints.c.organisation, disabled_endpoints.c.url).in_(list(hooks))
        )
    )
    return {(r.organisation, r.url) for r in found}


def record_attempts(unit: Unit, attempts: Sequence[Attempt]) -> None:
    """Stage the delivery attempts (written with the rest of the unit)."""
    for a in attempts:
        unit.stage(
            delivery_attempts,
            notification_id=a.notification_id,
            attempt=a.attempt,
            channel=a.channel,
            outcome=a.outcome,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            error=a.error[:_TEXT] if a.error is not None else None,
            at=a.at,
        )


async def hasten_retries(unit: Unit, channels: Collection[str], now: datetime) -> None:
    """Make alerts waiting to retry after a failure on these channels due now."""
    # Not those a receiver rate-limited: a 429 asked us to wait.
    await unit.conn.execute(
        update(notifications)
        .where(
            notifications.c.status == "pending",
            notifications.c.channel.in_(list(channels)),
            notifications.c.last_error.is_not(None),
            notifications.c.last_error.not_like("%429%"),
            notifications.c.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )


async def mark_sent(unit: Unit, ids: list[str], now: datetime) -> set[str]:
    """Record these alerts as sent; returns the ids marked here (those still leased)."""
    # Only rows still ours: if our lease ran out and another notifier finished the send
    # first, it recorded the alert-sent event and we must not record a second one.
    if not ids:
        return set()
    result = await unit.conn.execute(
        update(notifications)
        .where(notifications.c.id.in_(ids), notifications.c.status == "sending")
        .values(status="sent", sent_at=now, last_error=None)
        .returning(notifications.c.id)
    )
    return set(result.scalars())


async def record_failure(
    unit: Unit, notification_id: str, error: str, retry_at: datetime, give_up: bool
) -> bool:
    """Schedule a retry at retry_at, or give up; False when the alert was no longer ours."""
    # No longer ours: our lease lapsed and another notifier took the alert over.
    result = await unit.conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.status == "sending")
        .values(
            status="failed" if give_up else "pending",
            last_error=error[:_TEXT],
            next_attempt_at=retry_at,
        )
    )
    return bool(result.rowcount)


async def disable_webhook(
    unit: Unit, organisation: str, url: str, at: datetime, reason: str
) -> None:
    """Send nothing more to this webhook endpoint (it answered 410 Gone); once is enough."""
    await unit.db.insert_ignore_returning(
        unit.conn,
        disabled_endpoints,
        [{"organisation": organisation, "url": url, "disabled_at": at, "reason": reason[:_TEXT]}],
        disabled_endpoints.c.url,
    )
