"""Accept a referral: store it and its event in one transaction; replay on a repeated key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.intake.keys import Partner
from services.intake.problems import Problem
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id, reference
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.tables import outbox as outbox_table
from vrp.store.tables import referral_timeline, referrals

PRODUCER = "intake"
SOURCE = "/vrp/intake"


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
    db: Database, partner: Partner, idempotency_key: str, submission: ReferralSubmission
) -> Accepted:
    """Store the referral and its received event atomically; return only once committed."""
    fingerprint = request_hash(submission)
    now = datetime.now(UTC)
    rid = new_id()
    referral = Referral(
        id=str(rid),
        source_org=partner.organisation,
        received_at=now.isoformat(),
        local_authority=area_for(submission.subject.postcode),
        submission=submission,
    )
    envelope = Envelope.wrap(ReferralReceived(referral=referral), SOURCE, referral.id)
    referral_row = referrals.insert().values(
        id=referral.id,
        reference=reference(rid),
        source_org=partner.organisation,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        status="received",
        local_authority=referral.local_authority,
        body=envelope.data["referral"],
        created_at=now,
        updated_at=now,
    )
    timeline_row = referral_timeline.insert().values(
        event_id=envelope.id, referral_id=referral.id, type="received", at=now, detail={}
    )
    event_row = outbox_table.insert().values(
        **outbox.row_values(PRODUCER, topics.RECEIVED, referral.id, envelope)
    )
    try:
        async with db.transaction() as conn:
            if db.is_sqlite:
                for statement in (referral_row, timeline_row, event_row):
                    await conn.execute(statement)
            else:
                # One round trip: PostgreSQL runs data-modifying CTEs exactly once, in the
                # same statement and transaction as the outer INSERT.
                await conn.execute(
                    event_row.add_cte(referral_row.returning(referrals.c.id).cte("r")).add_cte(
                        timeline_row.returning(referral_timeline.c.event_id).cte("t")
                    )
                )
            outbox.staged(conn)
    except IntegrityError:
        return await _replay(db, partner, idempotency_key, fingerprint)
    return Accepted(referral.id, reference(rid), replayed=False)


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
        raise Problem(409, "conflict", "Conflict", "A concurrent request collided; retry it.")
    if row.request_hash != fingerprint:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            "This Idempotency-Key was used for a different referral body; use a new key.",
            [{"field": "Idempotency-Key", "detail": "already used with a different body"}],
        )
    return Accepted(row.id, row.reference, replayed=True)
