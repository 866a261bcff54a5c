"""Intake's referrals and their timeline, outside the event consumers: the new referral's
one-statement insert, a change's row lock and status, and the reads behind the originator's
view and the hub's triage. (The consumers' writes, and their locks, are in timeline.py.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, String, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from vrp.domain.audit import Entry
from vrp.domain.lifecycle import ReferralState
from vrp.domain.referral_facts import ReferralFacts
from vrp.events.envelope import Envelope
from vrp.store import audit
from vrp.store.outbox import row_values, staged
from vrp.store.tables import (
    audit_pending,
    fhir_messages,
    outbox,
    postcode_areas,
    referral_facts,
    referral_timeline,
    referrals,
)
from vrp.store.unit import Unit

RECEIVED = "received"
"""A new referral's status, and the type of its first timeline entry."""


class DuplicateKey(Exception):
    """The sender already used this idempotency key (perhaps a concurrent request did)."""


@dataclass(frozen=True, slots=True)
class NewReferral:
    """A referral as intake first stores it."""

    id: str
    reference: str
    source_org: str
    idempotency_key: str
    request_hash: str
    local_authority: str | None
    body: dict[str, Any]
    at: datetime
    facts: ReferralFacts
    postcode: str
    """Only to look up the LSOA of `facts` in the postcode directory; never stored here."""


@dataclass(frozen=True, slots=True)
class Keyed:
    """The referral a sender stored under an idempotency key, and its body's fingerprint."""

    id: str
    reference: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Locked:
    """A referral's row, locked for a change."""

    id: str
    source_org: str
    status: str


@dataclass(frozen=True, slots=True)
class Summary:
    """What lists show of a referral (ids, codes and times)."""

    id: str
    reference: str
    status: str
    source_org: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stored(Summary):
    """A referral with its body (emptied to coded facts once reduced_at is set)."""

    body: dict[str, Any]
    reduced_at: datetime | None


@dataclass(frozen=True, slots=True)
class Content:
    """A referral's body, and when retention reduced it (None while it is whole)."""

    body: dict[str, Any]
    reduced_at: datetime | None


@dataclass(frozen=True, slots=True)
class Happened:
    """One timeline entry."""

    event_id: str
    type: str
    at: datetime
    detail: dict[str, Any]


_SUMMARY = (
    referrals.c.id,
    referrals.c.reference,
    referrals.c.status,
    referrals.c.source_org,
    referrals.c.created_at,
    referrals.c.updated_at,
)
_HAPPENED = (
    referral_timeline.c.event_id,
    referral_timeline.c.type,
    referral_timeline.c.at,
    referral_timeline.c.detail,
)


def _insert(table: Table, columns: list[str]) -> Insert:
    return table.insert().values(
        {c: bindparam(f"{table.name}_{c}", type_=table.c[c].type) for c in columns}
    )


_FACTS = [c.name for c in referral_facts.columns if c.name != "lsoa"]


def _facts_insert() -> Insert:
    """The referral's coded facts, the LSOA looked up in the same statement (None when the
    postcode directory does not have the postcode or has no LSOAs)."""
    postcode = bindparam("referral_facts_postcode", type_=String())
    lsoa = select(postcode_areas.c.lsoa).where(postcode_areas.c.postcode == postcode)
    return _insert(referral_facts, _FACTS).values(lsoa=lsoa.scalar_subquery())


def _combined(audited: bool, message: bool) -> Insert:
    """One statement, one round trip, atomic and durable by itself (PostgreSQL runs
    data-modifying CTEs exactly once, with the outer INSERT): the referral, its timeline
    row, its coded facts, its event, (for a consent override) its audit record and (from
    the FHIR door) the message that carried it."""
    statement = (
        _insert(
            outbox,
            ["event_id", "producer", "topic", "key", "value", "traceparent", "created_at"],
        )
        .add_cte(
            _insert(
                referrals,
                [
                    "id",
                    "reference",
                    "source_org",
                    "idempotency_key",
                    "request_hash",
                    "status",
                    "local_authority",
                    "body",
                    "created_at",
                    "updated_at",
                ],
            )
            .returning(referrals.c.id)
            .cte("r")
        )
        .add_cte(
            _insert(referral_timeline, ["event_id", "referral_id", "type", "at", "detail"])
            .returning(referral_timeline.c.event_id)
            .cte("t")
        )
        .add_cte(_facts_insert().returning(referral_facts.c.referral_id).cte("f"))
    )
    if audited:
        columns = ["at", "kind", "actor", "referral_id", "subject", "detail"]
        statement = statement.add_cte(
            _insert(audit_pending, columns).returning(audit_pending.c.id).cte("a")
        )
    if message:
        columns = [c.name for c in fhir_messages.columns]
        statement = statement.add_cte(
            _insert(fhir_messages, columns).returning(fhir_messages.c.request_id).cte("m")
        )
    return statement


# Compiled once per process (SQLAlchemy caches each statement's compiled form).
_COMBINED_INSERT = {(a, m): _combined(a, m) for a in (False, True) for m in (False, True)}
_FACTS_INSERT = _facts_insert()


async def add_received(
    unit: Unit,
    referral: NewReferral,
    producer: str,
    topic: str,
    envelope: Envelope,
    audited: Entry | None = None,
    message: dict[str, Any] | None = None,
) -> None:
    """Store a new referral, its 'received' timeline entry, its coded facts, its event,
    (if given) its audit record and (if given) the FHIR message row that carried it: on
    PostgreSQL in exactly one statement, for a single-statement unit.

    Raises DuplicateKey when the sender's idempotency key is taken."""
    rows: dict[Table, dict[str, Any]] = {
        referrals: {
            "id": referral.id,
            "reference": referral.reference,
            "source_org": referral.source_org,
            "idempotency_key": referral.idempotency_key,
            "request_hash": referral.request_hash,
            "status": RECEIVED,
            "local_authority": referral.local_authority,
            "body": referral.body,
            "created_at": referral.at,
            "updated_at": referral.at,
        },
        referral_timeline: {
            "event_id": envelope.id,
            "referral_id": referral.id,
            "type": RECEIVED,
            "at": referral.at,
            "detail": {},
        },
        outbox: row_values(producer, topic, referral.id, envelope),
    }
    if audited is not None:
        rows[audit_pending] = audit.pending_row(audited, referral.at)
    if message is not None:
        rows[fhir_messages] = message
    facts = {f"referral_facts_{k}": v for k, v in referral.facts.row().items()}
    facts["referral_facts_postcode"] = referral.postcode
    conn = unit.conn
    try:
        if unit.db.is_sqlite:
            for table, values in rows.items():
                await conn.execute(table.insert(), values)
            await conn.execute(_FACTS_INSERT, facts)
        else:
            params = {f"{t.name}_{k}": v for t, values in rows.items() for k, v in values.items()}
            statement = _COMBINED_INSERT[audited is not None, message is not None]
            await conn.execute(statement, params | facts)
    except IntegrityError:
        raise DuplicateKey from None
    staged(conn)
    if audited is not None:
        audit.recorded(conn)


async def by_idempotency_key(unit: Unit, source_org: str, key: str) -> Keyed | None:
    """The referral source_org stored under an idempotency key, if any."""
    row = (
        await unit.conn.execute(
            select(referrals.c.id, referrals.c.reference, referrals.c.request_hash).where(
                referrals.c.source_org == source_org, referrals.c.idempotency_key == key
            )
        )
    ).first()
    return None if row is None else Keyed(row.id, row.reference, row.request_hash)


async def lock(unit: Unit, referral_id: str) -> Locked | None:
    """Lock a referral's row for a change (None when there is no such referral)."""
    row = (
        await unit.conn.execute(
            select(referrals.c.id, referrals.c.source_org, referrals.c.status)
            .where(referrals.c.id == referral_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else Locked(row.id, row.source_org, row.status)


async def content(unit: Unit, referral_id: str) -> Content:
    """The body of a referral known to exist (the caller locked it)."""
    row = (
        await unit.conn.execute(
            select(referrals.c.body, referrals.c.reduced_at).where(referrals.c.id == referral_id)
        )
    ).one()
    return Content(row.body, row.reduced_at)


async def set_status(unit: Unit, referral_id: str, status: ReferralState, at: datetime) -> None:
    """Move a (locked) referral to status."""
    await unit.conn.execute(
        update(referrals).where(referrals.c.id == referral_id).values(status=status, updated_at=at)
    )


def add_to_timeline(
    unit: Unit, event_id: str, referral_id: str, kind: str, at: datetime, detail: dict[str, Any]
) -> None:
    """Stage a timeline entry for the referral (written with the rest of the unit)."""
    unit.stage(
        referral_timeline,
        event_id=event_id,
        referral_id=referral_id,
        type=kind,
        at=at,
        detail=detail,
    )


async def sent_by(unit: Unit, source_org: str, referral_id: str) -> Summary | None:
    """The referral, if source_org sent it (None for anyone else's, as for none at all)."""
    row = (
        await unit.conn.execute(
            select(*_SUMMARY).where(
                referrals.c.id == referral_id, referrals.c.source_org == source_org
            )
        )
    ).first()
    return None if row is None else Summary(*row)


async def sent_list(unit: Unit, source_org: str, limit: int) -> list[Summary]:
    """The referrals source_org sent, newest first (at most limit of them)."""
    rows = await unit.conn.execute(
        select(*_SUMMARY)
        .where(referrals.c.source_org == source_org)
        .order_by(referrals.c.created_at.desc(), referrals.c.id)
        .limit(limit)
    )
    return [Summary(*r) for r in rows]


async def timeline(unit: Unit, referral_id: str) -> list[Happened]:
    """A referral's timeline, in the order things happened."""
    rows = await unit.conn.execute(
        select(*_HAPPENED)
        .where(referral_timeline.c.referral_id == referral_id)
        .order_by(referral_timeline.c.at, referral_timeline.c.event_id)
    )
    return [Happened(*r) for r in rows]


async def in_states(unit: Unit, states: Iterable[ReferralState], limit: int) -> list[Summary]:
    """Referrals in these states, oldest first (at most limit of them)."""
    rows = await unit.conn.execute(
        select(*_SUMMARY)
        .where(referrals.c.status.in_(list(states)))
        .order_by(referrals.c.created_at, referrals.c.id)
        .limit(limit)
    )
    return [Summary(*r) for r in rows]


async def stored(unit: Unit, referral_id: str) -> Stored | None:
    """A referral with its body, if it exists."""
    row = (
        await unit.conn.execute(
            select(*_SUMMARY, referrals.c.body, referrals.c.reduced_at).where(
                referrals.c.id == referral_id
            )
        )
    ).first()
    return None if row is None else Stored(*row)


async def of_kind(unit: Unit, referral_ids: list[str], kind: str) -> dict[str, list[Happened]]:
    """Each referral's timeline entries of one kind, oldest first (an empty list if none)."""
    rows = await unit.conn.execute(
        select(referral_timeline.c.referral_id, *_HAPPENED)
        .where(referral_timeline.c.referral_id.in_(referral_ids), referral_timeline.c.type == kind)
        .order_by(referral_timeline.c.at)
    )
    found: dict[str, list[Happened]] = {i: [] for i in referral_ids}
    for referral_id, *entry in rows:
        found[referral_id].append(Happened(*entry))
    return found


async def received_at(unit: Unit, referral_ids: list[str]) -> dict[str, datetime]:
    """When each of these referrals was received (the ones still stored)."""
    if not referral_ids:
        return {}
    rows = await unit.conn.execute(
        select(referrals.c.id, referrals.c.created_at).where(
            referrals.c.id.in_(sorted(set(referral_ids)))
        )
    )
    return {str(i): at for i, at in rows}
