"""The record-level evidence facts for an analyst's export: each referral of a period with
each of its offers, read as coded columns only and streamed in batches, so that a million
rows never sit in memory at once.

The query selects no name, NHS number, date of birth, postcode, LSOA, free text or
pseudonym: only what `vrp.domain.evidence_records` turns into the exported columns. The
referral id is read to number the referrals within one export, and is not written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select, text

from vrp.domain.evidence.bands import AGE_BANDS, BAND_AGES, UNKNOWN
from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, referral_facts
from vrp.store.offers import OFFER, OFFERS
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


def _age_band() -> str:
    """The SQL of `vrp.domain.evidence.bands.band`, from the same table of bands."""
    cases = " ".join(f"WHEN f.age <= {last} THEN '{name}'" for name, (_, last) in BAND_AGES.items())
    return f"CASE WHEN f.age IS NULL THEN '{UNKNOWN}' {cases} ELSE '{AGE_BANDS[-1]}' END"


def _hours(end: str, per: int = 3600) -> str:
    return f"round((extract(epoch FROM o.{end} - o.received_at) / {per})::numeric, 1)"


def records_sql() -> str:
    """PostgreSQL: the record-level file's rows, shaped in the database as
    `services/evidence_export/records.py` shapes them in Python (SQLite's path): the
    referral's number in the export, month, codes, the IMD decile, the age band, and hours
    or days from the offer; $1 and $2 are the period's half-open bounds."""
    # Only constants of this code are interpolated; the period is bound as parameters.
    return f"""
SELECT dense_rank() OVER (ORDER BY f.referred_at, f.referral_id), f.month, f.source_kind,
  f.local_authority, d.decile, {_age_band()}, f.sex, f.reason, f.reasons, o.intervention,
  o.organisation, o.status, CASE WHEN o.status = 'declined' THEN o.reason END, o.outcome,
  {_hours("accepted_at")}, {_hours("first_contact_at")}, {_hours("closed_at", 86400)}
FROM referral_facts f
LEFT JOIN received_referrals o ON o.referral_id = f.referral_id AND o.kind = '{OFFER}'
LEFT JOIN deprivation d ON d.lsoa = f.lsoa
WHERE f.referred_at >= $1 AND f.referred_at < $2
ORDER BY f.referred_at, f.referral_id, o.received_at, o.intervention"""  # noqa: S608


async def copy_records(
    db: Database, start: datetime, end: datetime, output: Callable[[bytes], Awaitable[None]]
) -> tuple[int, int]:
    """PostgreSQL: stream the period's record-level rows as CSV (no header) to `output`,
    chunk by chunk through COPY, from one snapshot; how many rows and referrals."""
    async with snapshot(db) as unit:
        # The join is sorted once for the numbering and the order: in memory, not on disk.
        await unit.conn.execute(text("SET LOCAL work_mem = '128MB'"))
        referrals = await unit.conn.scalar(
            select(func.count()).where(_f.referred_at >= start, _f.referred_at < end)
        )
        raw = await unit.conn.get_raw_connection()
        status = await raw.driver_connection.copy_from_query(  # type: ignore[union-attr]
            records_sql(), start, end, output=output, format="csv"
        )
    return int(str(status).rsplit(" ", 1)[-1]), int(referrals or 0)
