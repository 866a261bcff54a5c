"""SLA timers: a routed referral's reminder and escalation, stored so they survive restarts
and fire once however many notifiers run (the row is the truth), and the stop records that
end them once a team responds or the referral is cancelled."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from vrp.domain.identifiers import new_id
from vrp.store.tables import timers
from vrp.store.unit import Unit
from vrp.telemetry import current_traceparent

STOP = "stop"
"""The kind of a stop record: the timers it names must not fire."""
ANY = "*"
"""A stop record's intervention when the whole referral is over (cancelled)."""


@dataclass(frozen=True, slots=True)
class NewTimer:
    """A timer to start: one kind (reminder, escalation) of one referral's intervention."""

    referral_id: str
    organisation: str
    intervention: str
    kind: str
    due_at: datetime
    detail: dict[str, Any]
    """What its alert will say (codes and times, never personal data)."""
    created_at: datetime
    traceparent: str | None = field(default_factory=current_traceparent)
    """The trace its alert continues: the active span's when it is created."""


@dataclass(frozen=True, slots=True)
class Timer:
    """A due timer, claimed by the transaction that fires it."""

    id: str
    referral_id: str
    organisation: str
    intervention: str
    kind: str
    detail: dict[str, Any]
    traceparent: str | None


_DUE = (
    timers.c.id,
    timers.c.referral_id,
    timers.c.organisation,
    timers.c.intervention,
    timers.c.kind,
    timers.c.detail,
    timers.c.traceparent,
)


async def start(unit: Unit, new: Sequence[NewTimer]) -> set[str]:
    """Start the timers not started before, in one statement; returns the new rows' ids."""
    # One per referral, intervention and kind, whatever redelivers the decision.
    if not new:
        return set()
    rows = [
        {
            "id": str(new_id()),
            "dedupe_key": f"{t.referral_id}:{t.intervention}:{t.kind}",
            "referral_id": t.referral_id,
            "organisation": t.organisation,
            "intervention": t.intervention,
            "kind": t.kind,
            "due_at": t.due_at,
            "status": "waiting",
            "detail": t.detail,
            "traceparent": t.traceparent,
            "created_at": t.created_at,
        }
        for t in new
    ]
    return await unit.db.insert_ignore_returning(unit.conn, timers, rows, timers.c.id)


async def stop(
    unit: Unit, referral_id: str, intervention: str | None, organisation: str, status: str
) -> None:
    """Cancel the referral's waiting timers for intervention (None: all) and record a stop."""
    scope = timers.c.referral_id == referral_id
    if intervention is not None:
        scope &= timers.c.intervention == intervention
    await unit.conn.execute(
        update(timers).where(scope, timers.c.status == "waiting").values(status="cancelled")
    )
    # A stop record too: the decision that starts these timers is on another topic and may
    # be consumed after this response (a lagging consumer); the timer service honours it.
    now = datetime.now(UTC)
    target = ANY if intervention is None else intervention
    record = {
        "id": str(new_id()),
        "dedupe_key": f"{referral_id}:{target}:{STOP}",
        "referral_id": referral_id,
        "organisation": organisation,
        "intervention": target,
        "kind": STOP,
        "due_at": now,
        "status": "cancelled",
        "detail": {"status": status},
        "created_at": now,
    }
    await unit.db.insert_ignore_returning(unit.conn, timers, [record], timers.c.id)


async def claim_due(unit: Unit, now: datetime, limit: int) -> list[Timer]:
    """Lock up to limit timers due by now, earliest first (skip-locked) until the unit ends."""
    due = (
        select(*_DUE)
        .where(timers.c.status == "waiting", timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(limit)
    )
    if not unit.db.is_sqlite:  # SQLite serialises writers, so there is nothing to skip
        due = due.with_for_update(skip_locked=True)
    return [Timer(*r) for r in await unit.conn.execute(due)]


async def stopped(unit: Unit, referral_ids: Collection[str]) -> set[tuple[str, str]]:
    """(referral, intervention) pairs stopped among these referrals (ANY: all of it)."""
    rows = await unit.conn.execute(
        select(timers.c.referral_id, timers.c.intervention).where(
            timers.c.referral_id.in_(list(referral_ids)), timers.c.kind == STOP
        )
    )
    return {(r.referral_id, r.intervention) for r in rows}


async def mark_fired(unit: Unit, ids: list[str], at: datetime) -> None:
    """Record these timers as fired."""
    if ids:
        await unit.conn.execute(
            update(timers).where(timers.c.id.in_(ids)).values(status="fired", fired_at=at)
        )


async def cancel(unit: Unit, ids: list[str]) -> None:
    """Cancel these timers (a stop record named them)."""
    if ids:
        await unit.conn.execute(
            update(timers).where(timers.c.id.in_(ids)).values(status="cancelled")
        )
