"""Accept a referral: store it and its event in one transaction; replay on a repeated key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.intake import screening
from services.intake.auth.keys import Partner
from vrp.domain.audit import CONSENT_OVERRIDE, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.errors import ConcurrentRequest, IdempotencyKeyReused
from vrp.domain.identifiers import new_id, reference
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store import audit, outbox
from vrp.store.database import Database
from vrp.store.geography import Areas
from vrp.store.tables import audit_pending, referral_timeline, referrals
from vrp.store.tables import outbox as outbox_table

PRODUCER = wiring.INTAKE.name
SOURCE = "/vrp/intake"


def _insert(table: Table, columns: list[str]) -> Insert:
    return table.insert().values(
        {c: bindparam(f"{table.name}_{c}", type_=table.c[c].type) for c in columns}
    )


def _combined(audited: bool) -> Insert:
    """One statement, one round trip, atomic and durable by itself (PostgreSQL runs
    data-modifying CTEs exactly once, with the outer INSERT): the referral, its timeline
    row, its event and (for a consent override) its audit record."""
    statement = (
        _insert(
            outbox_table,
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
    )
    if audited:
        columns = ["at", "kind", "actor", "referral_id", "subject", "detail"]
        statement = statement.add_cte(
            _insert(audit_pending, columns).returning(audit_pending.c.id).cte("a")
        )
    return statement


# Compiled once per process (SQLAlchemy caches each statement's compiled form).
_COMBINED_INSERT = {False: _combined(False), True: _combined(True)}


@dataclass(frozen=True)
class Accepted:
    """What intake answers once a referral is durable."""

    referral_id: str
    reference: str
    replayed: bool


def request_hash(submission: ReferralSubmission) -> str:
    """Fingerprint of the validated body, so formatting differences are not 'different bodies'."""
    return hashlib.sha256(submission.model_dump_json().encode()).hexdigest()


async def accept(
    db: Database,
    partner: Partner,
    idempotency_key: str,
    submission: ReferralSubmission,
    config: RoutingConfiguration | None = None,
    areas: Areas | None = None,
) -> Accepted:
    """Store the referral and its received event atomically; return only once committed.

    With the configuration in force, first refuse an unknown sender or codes outside its
    vocabularies; always derive (and check) the person's local authority (through `areas`,
    the process's remembered lookups, when given)."""
    if config is not None:
        screening.check_sender(config, partner.organisation)
        screening.check_codes(config, submission)
    area = await _local_authority(areas or Areas(db), submission)
    fingerprint = request_hash(submission)
    now = datetime.now(UTC)
    rid = new_id()
    referral = Referral(
        id=str(rid),
        source_org=partner.organisation,
        received_at=now.isoformat(),
        local_authority=area,
        submission=submission,
    )
    envelope = Envelope.wrap(ReferralReceived(referral=referral), SOURCE, referral.id)
    rows = {
        referrals: {
            "id": referral.id,
            "reference": reference(rid),
            "source_org": partner.organisation,
            "idempotency_key": idempotency_key,
            "request_hash": fingerprint,
            "status": "received",
            "local_authority": referral.local_authority,
            "body": envelope.data["referral"],
            "created_at": now,
            "updated_at": now,
        },
        referral_timeline: {
            "event_id": envelope.id,
            "referral_id": referral.id,
            "type": "received",
            "at": now,
            "detail": {},
        },
        outbox_table: outbox.row_values(PRODUCER, topics.RECEIVED, referral.id, envelope),
    }
    override = submission.consent.override
    # The ground is a code; decision_maker and justification are free text that may name
    # people, so they stay in the referral and out of the audit chain.
    if override is not None:
        record = Entry(
            CONSENT_OVERRIDE,
            f"org:{partner.organisation}/key:{partner.key_id}",
            referral.id,
            None,
            {"ground": override.ground, "consent_state": submission.consent.state.value},
        )
        rows[audit_pending] = audit.pending_row(record, now)
    try:
        await _store(db, rows)
    except IntegrityError:
        return await _replay(db, partner, idempotency_key, fingerprint)
    return Accepted(referral.id, reference(rid), replayed=False)


async def _local_authority(areas: Areas, submission: ReferralSubmission) -> str | None:
    for attempt in (1, 2):
        try:
            return await screening.local_authority(areas, submission)
        except DBAPIError as exc:
            # As in _store: a pooled connection broken by a database restart; retry once.
            if not exc.connection_invalidated or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _store(db: Database, rows: dict[Table, dict[str, Any]]) -> None:
    for attempt in (1, 2):
        try:
            await _store_once(db, rows)
            return
        except DBAPIError as exc:
            # A pooled connection broken by a database restart (no pre-ping): SQLAlchemy
            # has replaced the pool; one retry is safe, the idempotency key dedupes it.
            if not exc.connection_invalidated or attempt == 2 or isinstance(exc, IntegrityError):
                raise


async def _store_once(db: Database, rows: dict[Table, dict[str, Any]]) -> None:
    async with db.transaction(single_statement=True) as conn:
        if db.is_sqlite:
            for table, values in rows.items():
                await conn.execute(table.insert(), values)
        else:
            params = {f"{t.name}_{k}": v for t, values in rows.items() for k, v in values.items()}
            await conn.execute(_COMBINED_INSERT[audit_pending in rows], params)
        outbox.staged(conn)
        if audit_pending in rows:
            audit.recorded(conn)


async def _replay(db: Database, partner: Partner, key: str, fingerprint: str) -> Accepted:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(referrals.c.id, referrals.c.reference, referrals.c.request_hash).where(
                    referrals.c.source_org == partner.organisation,
                    referrals.c.idempotency_key == key,
                )
            )
        ).first()
        await conn.rollback()
    if row is None:
        raise ConcurrentRequest
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused
    return Accepted(row.id, row.reference, replayed=True)
