"""The record-level evidence facts for an analyst's export: each referral of a period with
each of its offers, read as coded columns only and streamed in batches, so that a million
rows never sit in memory at once.

The query selects no name, NHS number, date of birth, postcode, LSOA, free text or
pseudonym: only what `vrp.domain.evidence_records` turns into the exported columns. The
referral id is read to number the referrals within one export, and is not written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select

from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, referral_facts
from vrp.store.offers import OFFERS
from vrp.store.tables import received_referrals
from vrp.store.unit import snapshot

_f = referral_facts.c
_o = received_referrals.c
_d = deprivation.c


@dataclass(frozen=True, slots=True)
class FactRow:
    """One referral with one of its offers (the offer's fields None when it had none)."""

    referral_id: str
    referred_at: datetime
    month: str
    source_kind: str
    local_authority: str | None
    decile: int | None
    age: int | None
    sex: str | None
    reason: str
    reasons: str
    intervention: str | None
    organisation: str | None
    status: str | None
    decline_reason: str | None
    outcome: str | None
    offered_at: datetime | None
    accepted_at: datetime | None
    first_contact_at: datetime | None
    closed_at: datetime | None


def _query(start: datetime, end: datetime) -> Select[Any]:
    offers = and_(_o.referral_id == _f.referral_id, OFFERS)
    return (
        select(
            _f.referral_id,
            _f.referred_at,
            _f.month,
            _f.source_kind,
            _f.local_authority,
            _d.decile,
            _f.age,
            _f.sex,
            _f.reason,
            _f.reasons,
            _o.intervention,
            _o.organisation,
            _o.status,
            _o.reason.label("decline_reason"),
            _o.outcome,
            _o.received_at,
            _o.accepted_at,
            _o.first_contact_at,
            _o.closed_at,
        )
        .select_from(
            referral_facts.outerjoin(received_referrals, offers).outerjoin(
                deprivation, _d.lsoa == _f.lsoa
            )
        )
        .where(_f.referred_at >= start, _f.referred_at < end)
        .order_by(_f.referred_at, _f.referral_id, _o.received_at, _o.intervention)
    )


async def fact_batches(
    db: Database, start: datetime, end: datetime, batch: int = 10_000
) -> AsyncIterator[Sequence[FactRow]]:
    """The referrals made from `start` until before `end`, with their offers, oldest
    first, `batch` rows at a time, all read from one snapshot through a server-side
    cursor."""
    stmt = _query(start, end).execution_options(yield_per=batch)
    async with snapshot(db) as unit:
        result = await unit.conn.stream(stmt)
        async for part in result.partitions(batch):
            yield [FactRow(*row) for row in part]
