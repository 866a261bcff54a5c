"""Accept a referral: store it and its event in one transaction; replay on a repeated key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake import screening
from services.intake.auth.keys import Partner
from vrp.domain.audit import CONSENT_OVERRIDE, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.errors import ConcurrentRequest, IdempotencyKeyReused
from vrp.domain.identifiers import new_id, reference
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.referral_facts import referral_facts
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store import referrals
from vrp.store.database import Database
from vrp.store.geography import Areas
from vrp.store.reconnect import retried_once
from vrp.store.unit import reading, unit_of_work

PRODUCER = wiring.INTAKE.name
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
    db: Database,
    partner: Partner,
    idempotency_key: str,
    submission: ReferralSubmission,
    config: RoutingConfiguration | None = None,
    areas: Areas | None = None,
    *,
    pseudonym_key: bytes,
    fingerprint: str | None = None,
    message: dict[str, object] | None = None,
) -> Accepted:
    """Store the referral and its received event atomically; return only once committed.

    With the configuration in force, first refuse an unknown sender or codes outside its
    vocabularies; always derive (and check) the person's local authority (through `areas`,
    the process's remembered lookups, when given). The referral's coded facts are stored
    with it, its subject keyed by `pseudonym_key` (the router's key). The FHIR door gives
    its own `fingerprint` (of the message as sent) and the `message` row stored with the
    referral, `referral_id` filled in here."""
    if config is not None:
        screening.check_sender(config, partner.organisation)
        screening.check_codes(config, submission)
    screening.check_consent(config, partner.organisation, submission)
    area = await _local_authority(areas or Areas(db), submission)
    fingerprint = fingerprint or request_hash(submission)
    now = datetime.now(UTC)
    key = pseudonym_key
    rid = new_id()
    referral = Referral(
        id=str(rid),
        source_org=partner.organisation,
        received_at=now.isoformat(),
        local_authority=area,
        submission=submission,
    )
    envelope = Envelope.wrap(ReferralReceived(referral=referral), SOURCE, referral.id)
    stored = referrals.NewReferral(
        id=referral.id,
        reference=reference(rid),
        source_org=partner.organisation,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        local_authority=referral.local_authority,
        body=envelope.data["referral"],
        at=now,
        facts=referral_facts(referral, _source_kind(config, partner.organisation), now, key),
        postcode=submission.subject.postcode,
    )
    override = submission.consent.override
    # The ground is a code; decision_maker and justification are free text that may name
    # people, so they stay in the referral and out of the audit chain.
    record: Entry | None = None
    if override is not None:
        record = Entry(
            CONSENT_OVERRIDE,
            f"org:{partner.organisation}/key:{partner.key_id}",
            referral.id,
            None,
            {"ground": override.ground, "consent_state": submission.consent.state.value},
        )
    row = None if message is None else message | {"referral_id": referral.id}
    try:
        # A pooled connection broken by a database restart (no pre-ping) fails the first
        # attempt; the retry is safe, the idempotency key dedupes it.
        await retried_once(lambda: _store(db, envelope, stored, record, row))
    except referrals.DuplicateKey:
        return await _replay(db, partner, idempotency_key, fingerprint)
    return Accepted(stored.id, stored.reference, replayed=False)


def _source_kind(config: RoutingConfiguration | None, organisation: str) -> str | None:
    found = None if config is None else config.organisation(organisation)
    return None if found is None else str(found.kind)


async def _local_authority(areas: Areas, submission: ReferralSubmission) -> str | None:
    # As in accept: a pooled connection broken by a database restart; retry once.
    return await retried_once(lambda: screening.local_authority(areas, submission))


async def _store(
    db: Database,
    envelope: Envelope,
    referral: referrals.NewReferral,
    record: Entry | None,
    message: dict[str, object] | None,
) -> None:
    # The hot path: exactly one statement on PostgreSQL, without BEGIN or COMMIT.
    async with unit_of_work(db, single_statement=True) as unit:
        await referrals.add_received(
            unit, referral, PRODUCER, topics.RECEIVED, envelope, record, message
        )


async def _replay(db: Database, partner: Partner, key: str, fingerprint: str) -> Accepted:
    async with reading(db) as unit:
        row = await referrals.by_idempotency_key(unit, partner.organisation, key)
    if row is None:
        raise ConcurrentRequest
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused
    return Accepted(row.id, row.reference, replayed=True)
