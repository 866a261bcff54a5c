"""Read-only queries behind `vrp status`: backlogs, dead letters, held and overdue referrals.

Every figure is a count, an age, an id or a code: nothing here reads personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import DBAPIError

from vrp.events.wiring import Consumer
from vrp.store.outbox import on_topics
from vrp.store.tables import (
    audit_log,
    audit_pending,
    consumer_positions,
    dead_letter_originals,
    decisions,
    disabled_endpoints,
    notifications,
    outbox,
    referrals,
    routed,
    timers,
)
from vrp.store.unit import Unit


@dataclass(frozen=True)
class Backlog:
    """Rows waiting: unpublished rows of a producer, or unread log rows of a group."""

    name: str
    waiting: int
    oldest: datetime | None
    position: int | None = None


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered event: where and why (the reason is a code, never the event)."""

    at: datetime
    consumer: str
    topic: str
    reason: str


@dataclass(frozen=True)
class Counted:
    """How many rows match, the oldest one's time, and the count per organisation."""

    count: int
    oldest: datetime | None
    by_organisation: dict[str, int]


@dataclass(frozen=True)
class Disabled:
    """A webhook endpoint disabled after 410 Gone (the URL is left out: it may carry a token)."""

    organisation: str
    since: datetime
    reason: str


async def unpublished(unit: Unit) -> list[Backlog]:
    """Per producer: outbox rows the relay has not yet published, and the oldest's time."""
    rows = await unit.conn.execute(
        select(outbox.c.producer, func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.published_at.is_(None))
        .group_by(outbox.c.producer)
        .order_by(outbox.c.producer)
    )
    return [Backlog(producer, int(n), _aware(oldest)) for producer, n, oldest in rows]


async def unread(unit: Unit, consumers: list[Consumer]) -> list[Backlog]:
    """Embedded mode: per consumer group, log rows on its topics after its stored position."""
    stored = await unit.conn.execute(
        select(consumer_positions.c.consumer, consumer_positions.c.position)
    )
    positions = {str(consumer): int(at) for consumer, at in stored}
    backlogs = []
    for c in consumers:
        # A group that never started reads from the beginning of the log, as it will.
        position = positions.get(c.group, 0)
        patterns = tuple((p.prefix, p.suffix) for p in c.patterns)
        n, oldest = (
            await unit.conn.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(
                    outbox.c.id > position, on_topics(c.topics, patterns)
                )
            )
        ).one()
        known = position if c.group in positions else None
        backlogs.append(Backlog(c.group, int(n), _aware(oldest), known))
    return backlogs


async def dead_letters(unit: Unit, latest: int = 5) -> tuple[int, list[DeadLetter]]:
    """How many events were dead-lettered, and the most recent few."""
    total = (
        await unit.conn.execute(select(func.count()).select_from(dead_letter_originals))
    ).scalar()
    rows = await unit.conn.execute(
        select(
            dead_letter_originals.c.created_at,
            dead_letter_originals.c.consumer,
            dead_letter_originals.c.topic,
            dead_letter_originals.c.reason,
        )
        .order_by(dead_letter_originals.c.created_at.desc())
        .limit(latest)
    )
    return int(total or 0), [DeadLetter(*r) for r in rows]


async def held(unit: Unit) -> Counted:
    """Referrals the router held that still wait for the hub's triage; oldest is the
    earliest hold."""
    # The decision stays 'held' for good; the referral's status moves on once the hub
    # routes, closes or the sender withdraws it, and then it no longer waits.
    n, oldest = (
        await unit.conn.execute(
            select(func.count(), func.min(decisions.c.decided_at))
            .select_from(decisions.join(referrals, referrals.c.id == decisions.c.referral_id))
            .where(decisions.c.outcome == "held", referrals.c.status == "held")
        )
    ).one()
    return Counted(int(n), _aware(oldest), {})


async def overdue(unit: Unit, now: datetime) -> Counted:
    """Routed referrals still awaiting acceptance whose reminder fired or whose respond-by
    (the reminder's due time) has passed; oldest is the earliest respond-by."""
    late = and_(
        timers.c.referral_id == routed.c.referral_id,
        timers.c.intervention == routed.c.intervention,
        timers.c.kind == "reminder",
        or_(timers.c.status == "fired", timers.c.due_at <= now),
    )
    rows = (
        await unit.conn.execute(
            select(routed.c.organisation, func.count(), func.min(timers.c.due_at))
            .select_from(routed.join(timers, late))
            .where(routed.c.status == "awaiting")
            .group_by(routed.c.organisation)
        )
    ).all()
    return _counted(rows)


async def failed_alerts(unit: Unit) -> Counted:
    """Alerts that failed for good (`vrp alerts failed` lists them)."""
    rows = (
        await unit.conn.execute(
            select(notifications.c.organisation, func.count(), func.min(notifications.c.created_at))
            .where(notifications.c.status == "failed")
            .group_by(notifications.c.organisation)
        )
    ).all()
    return _counted(rows)


async def disabled(unit: Unit) -> list[Disabled]:
    """Webhook endpoints nothing is sent to any more."""
    rows = await unit.conn.execute(
        select(
            disabled_endpoints.c.organisation,
            disabled_endpoints.c.disabled_at,
            disabled_endpoints.c.reason,
        ).order_by(disabled_endpoints.c.disabled_at)
    )
    return [Disabled(*r) for r in rows]


async def latest_decision(unit: Unit) -> tuple[str, datetime] | None:
    """The configuration version of the newest decision, and when it was first used."""
    newest = (
        await unit.conn.execute(
            select(decisions.c.config_version).order_by(decisions.c.decided_at.desc()).limit(1)
        )
    ).scalar()
    if newest is None:
        return None
    first = (
        await unit.conn.execute(
            select(func.min(decisions.c.decided_at)).where(decisions.c.config_version == newest)
        )
    ).scalar()
    at = _aware(first)
    return (newest, at) if at is not None else None


@dataclass(frozen=True)
class Loaded:
    """A process put a configuration version into force (from the audit log)."""

    version: str
    at: datetime
    actor: str


async def configuration_loads(unit: Unit, latest: int = 50) -> list[Loaded]:
    """The newest configuration loads the audit log recorded, newest first."""
    from vrp.domain.audit import CONFIG_LOADED

    # A database from before the audit log has no table: then the load time is simply not
    # recorded. In a transaction, ask this last: a failed statement spoils the rest.
    # A load the sealer has not yet chained (audit_pending, for seconds; longer on a busy
    # machine) happened all the same: both are read.
    try:
        rows = [
            row
            for table in (audit_log, audit_pending)
            for row in await unit.conn.execute(
                select(table.c.at, table.c.actor, table.c.detail)
                .where(table.c.kind == CONFIG_LOADED)
                .order_by(table.c.at.desc())
                .limit(latest)
            )
        ]
    except DBAPIError:
        return []
    rows.sort(key=lambda r: r.at, reverse=True)
    return [Loaded(str(d.get("version")), at, str(actor)) for at, actor, d in rows[:latest]]


def _counted(rows: Iterable[Sequence[Any]]) -> Counted:
    by_org: dict[str, int] = {}
    oldest: datetime | None = None
    for org, n, first in rows:
        by_org[str(org)] = int(n)
        at = _aware(first)
        if at is not None and (oldest is None or at < oldest):
            oldest = at
    return Counted(sum(by_org.values()), oldest, by_org)


def _aware(value: object) -> datetime | None:
    """Aggregates bypass the UTC column type, so SQLite hands back naive (or text) times."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
