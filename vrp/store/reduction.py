"""Referral retention: once a referral's retention period runs out, intake's copy and each
receiver's copy are reduced to coded facts, the outbox rows carrying it are deleted, and
dead-lettered originals go after their own period. The audit chain is never touched.

A referral is kept for the longest `retention_days` of the flows it was disclosed under
(a flow the live configuration no longer has counts as the default), or for the default
when it was never disclosed. A receiver's copy is kept for its own flow's period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.audit import RETENTION, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.progress import Progress, no_progress
from vrp.store import audit
from vrp.store.columns import Time as _Time
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.retention import consumed, utc_now
from vrp.store.tables import (
    dead_letter_originals,
    disclosures,
    outbox,
    received_referrals,
    referral_facts,
    referrals,
)

BATCH = 200
"""Referrals (or receivers' copies) reduced per transaction, so locks are held briefly."""
ACTOR = "retention"
log = logging.getLogger(__name__)

FlowKey = tuple[str, int, str]
T = TypeVar("T")


@dataclass(frozen=True)
class Retained:
    """How long things are kept: per flow, for undisclosed referrals, for dead letters."""

    flows: Mapping[FlowKey, int]
    default_days: int
    dead_letter_days: int

    @classmethod
    def of(cls, config: RoutingConfiguration, default_days: int, dead_letter_days: int) -> Retained:
        """The periods of the live configuration's flows."""
        flows = {
            (a.id, a.version, f.id): f.retention_days for a in config.agreements for f in a.flows
        }
        return cls(flows, default_days, dead_letter_days)

    def days(self, key: FlowKey) -> int:
        """One flow's period; the default for a flow the configuration no longer has."""
        return self.flows.get(key, self.default_days)

    @property
    def shortest(self) -> timedelta:
        """Nothing younger than this can be due, whatever it was disclosed under."""
        return timedelta(days=min([self.default_days, *self.flows.values()]))


@dataclass(frozen=True)
class Report:
    """What one run reduced or deleted (or would have, in a dry run), per table."""

    referrals: int = 0
    received_referrals: int = 0
    outbox: int = 0
    dead_letter_originals: int = 0
    blocking: int = 0
    """Outbox rows of reduced referrals kept because not yet published or read by all."""

    def counts(self) -> dict[str, int]:
        """The counts by name, for the audit record and the command's output."""
        return asdict(self)


def reduced_body(body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The coded facts intake keeps of a referral: no names, dates of birth, numbers,
    postcodes, contacts or free text."""
    submission: Mapping[str, Any] = body.get("submission") or {}
    consent: Mapping[str, Any] = submission.get("consent") or {}
    return {
        "id": body.get("id"),
        "source_org": body.get("source_org"),
        "received_at": body.get("received_at"),
        "local_authority": body.get("local_authority"),
        "reasons": list(submission.get("reasons") or []),
        "risk": submission.get("risk"),
        "consent_state": consent.get("state"),
        "reduced_at": now.isoformat(),
    }


def reduced_payload(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A receiver's copy without its minimised data: ids, codes and the flow remain."""
    kept = {k: v for k, v in payload.items() if k != "data"}
    return {**kept, "data": {}, "reduced_at": now.isoformat()}


async def run_retention(
    db: Database,
    retained: Retained,
    now: datetime,
    *,
    embedded: bool,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Progress = no_progress,
) -> Report:
    """Reduce what has run out of retention at `now`; a dry run only counts."""
    due = await _due_referrals(db, retained, now)
    copies = await _due_copies(db, retained, now)
    if not dry_run:
        total, handled = len(due) + len(copies), 0
        progress(handled, total)
        for chunk in _chunks(due, batch):
            async with db.transaction() as conn:
                await _reduce_referrals(conn, chunk, now)
            handled += len(chunk)
            progress(handled, total)
        for pairs in _chunks(copies, batch):
            async with db.transaction() as conn:
                await _reduce_copies(conn, pairs, now)
            handled += len(pairs)
            progress(handled, total)
    async with db.transaction() as conn:
        # A dry run also counts the rows of referrals it would reduce now.
        carried = or_(
            outbox.c.key.in_(select(referrals.c.id).where(referrals.c.reduced_at.is_not(None))),
            outbox.c.key.in_(due) if dry_run and due else false(),
        )
        done: ColumnElement[bool] = outbox.c.published_at.is_not(None)
        if embedded:
            done = or_(done, await consumed(conn, now))
        gone = await _count_or_delete(conn, and_(carried, done), dry_run)
        blocking = await _count(conn, and_(carried, ~done))
        expired = dead_letter_originals.c.created_at < now - timedelta(
            days=retained.dead_letter_days
        )
        letters = await _count_or_delete(conn, expired, dry_run, dead_letter_originals)
        report = Report(len(due), len(copies), gone, letters, blocking)
        # Only a run that changed something is audited, so an hourly schedule adds no noise.
        if not dry_run and any([len(due), len(copies), gone, letters]):
            await audit.append(conn, Entry(RETENTION, ACTOR, detail=report.counts()))
    return report


def _cutoff(
    retained: Retained, now: datetime, agreement: Any, version: Any, flow: Any
) -> ColumnElement[Any]:
    """In SQL: the time before which something disclosed under the flow (agreement,
    version, flow id) has run out of retention; the default's for a flow not configured."""
    whens = [
        (and_(agreement == a, version == v, flow == f), literal(now - timedelta(days=d), _Time))
        for (a, v, f), d in retained.flows.items()
    ]
    default = literal(now - timedelta(days=retained.default_days), _Time)
    return case(*whens, else_=default) if whens else default


async def _due_referrals(db: Database, retained: Retained, now: datetime) -> list[str]:
    # Decided in the database: over years of referrals, loading every candidate into the
    # process to compare there held intake's event loop for seconds each run.
    r, d = referrals.c, disclosures.c
    disclosed = exists().where(d.referral_id == r.id)
    # Kept for the longest of its flows: due once no disclosure of it is still within its.
    kept_by_one = exists().where(
        d.referral_id == r.id,
        r.created_at > _cutoff(retained, now, d.agreement_id, d.agreement_version, d.flow_id),
    )
    default = literal(now - timedelta(days=retained.default_days), _Time)
    query = (
        select(r.id)
        .where(
            r.reduced_at.is_(None),
            r.created_at <= now - retained.shortest,
            or_(and_(disclosed, ~kept_by_one), and_(~disclosed, r.created_at <= default)),
        )
        .order_by(r.id)
    )
    async with db.engine.connect() as conn:
        due = [row.id for row in await conn.execute(query)]
        await conn.rollback()
    return due


async def _due_copies(db: Database, retained: Retained, now: datetime) -> list[tuple[str, str]]:
    t = received_referrals.c
    # The flow its event named (payload: agreement_id, agreement_version, flow_id).
    flow = (
        t.payload["agreement_id"].as_string(),
        t.payload["agreement_version"].as_integer(),
        t.payload["flow_id"].as_string(),
    )
    query = select(t.referral_id, t.intervention).where(
        t.reduced_at.is_(None),
        t.received_at <= now - retained.shortest,
        t.received_at <= _cutoff(retained, now, *flow),
    )
    async with db.engine.connect() as conn:
        due = [(row.referral_id, row.intervention) for row in await conn.execute(query)]
        await conn.rollback()
    return due


async def _reduce_referrals(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> None:
    # The coded facts stay for evaluation; the key that links them to the person goes.
    await conn.execute(
        update(referral_facts).where(referral_facts.c.referral_id.in_(ids)).values(pseudonym=None)
    )
    rows = await conn.execute(
        select(referrals.c.id, referrals.c.body).where(
            referrals.c.id.in_(ids), referrals.c.reduced_at.is_(None)
        )
    )
    for r in rows.all():
        await conn.execute(
            update(referrals)
            .where(referrals.c.id == r.id)
            .values(body=reduced_body(r.body, now), reduced_at=now)
        )


async def _reduce_copies(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]], now: datetime
) -> None:
    t = received_referrals.c
    for rid, intervention in keys:
        mine = and_(t.referral_id == rid, t.intervention == intervention, t.reduced_at.is_(None))
        row = (await conn.execute(select(t.payload).where(mine))).first()
        if row is not None:
            payload = reduced_payload(row.payload, now)
            await conn.execute(
                update(received_referrals).where(mine).values(payload=payload, reduced_at=now)
            )


async def _count(conn: AsyncConnection, where: ColumnElement[bool], table: Any = outbox) -> int:
    return int(
        (await conn.execute(select(func.count()).select_from(table).where(where))).scalar_one()
    )


async def _count_or_delete(
    conn: AsyncConnection, where: ColumnElement[bool], dry_run: bool, table: Any = outbox
) -> int:
    if dry_run:
        return await _count(conn, where, table)
    return int((await conn.execute(delete(table).where(where))).rowcount)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


RETRY_SECONDS = 5.0  # after a failed run, the next try


class ReferralRetention:
    """Runs retention every `every` seconds until stopped (intake's schedule)."""

    def __init__(
        self,
        db: Database,
        periods: Callable[[], Retained],
        every: float,
        *,
        embedded: bool,
        clock: Callable[[], datetime] = utc_now,
        retry: float = RETRY_SECONDS,
    ) -> None:
        self._db = db
        self._retry = retry
        self._periods = periods
        self._every = every
        self._embedded = embedded
        self._clock = clock
        self.last: Report | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Run now, then every interval; a failed run is tried again after a few seconds."""
        while not stopping.is_set():
            try:
                self.last = await run_retention(
                    self._db, self._periods(), self._clock(), embedded=self._embedded
                )
                if any(self.last.counts().values()):
                    log.info("referral retention: %s", self.last.counts())
                wait = self._every
            except DATABASE_ERRORS as exc:
                # A busy or restarting database should not put personal data off by a
                # whole interval: try again soon.
                log.warning("referral retention failed: %s", type(exc).__name__)
                wait = min(self._every, self._retry)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=wait)
