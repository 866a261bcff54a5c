"""Which referrals and receivers' copies retention reduces, decided in the database on
each kind: a referral is kept for the longest period of the flows it was disclosed under
(a flow no longer configured counts as the default), an undisclosed one for the default;
a receiver's copy for its own flow's period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from testkit.evidence import EvidenceRows
from vrp.store.database import Database
from vrp.store.reduction import Retained, run_retention
from vrp.store.tables import disclosures, received_referrals, referrals
from vrp.store.unit import unit_of_work

NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)
LONG, SHORT = ("isa-health", 2, "navigators"), ("isa-police", 1, "triage")
RETAINED = Retained({LONG: 730, SHORT: 100}, default_days=365, dead_letter_days=30)


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def _referral(db: Database, name: str, age_days: float, *flows: tuple[str, int, str]) -> None:
    async with unit_of_work(db) as unit:
        unit.stage(
            referrals,
            id=name,
            reference=name[:16],
            source_org="uhb",
            idempotency_key=name,
            request_hash="0" * 64,
            status="routed",
            local_authority="E08000025",
            body={"id": name, "submission": {"reasons": ["knife-crime"]}},
            created_at=_ago(age_days),
            updated_at=_ago(age_days),
        )
        for agreement, version, flow in flows:
            unit.stage(
                disclosures,
                event_id=str(uuid.uuid4()),
                referral_id=name,
                organisation="navigators",
                intervention="navigators-birmingham",
                agreement_id=agreement,
                agreement_version=version,
                flow_id=flow,
                items=[],
                config_version="v1",
                disclosed_at=_ago(age_days),
            )


async def test_a_referral_is_kept_for_the_longest_of_its_flows_or_the_default(db: Database) -> None:
    await _referral(db, "undisclosed-old", 366)
    await _referral(db, "undisclosed-young", 364)
    await _referral(db, "long-flow-400", 400, LONG)
    await _referral(db, "long-flow-731", 731, LONG)
    await _referral(db, "both-flows-400", 400, SHORT, LONG)
    await _referral(db, "short-flow-101", 101, SHORT)
    await _referral(db, "short-flow-99", 99, SHORT)
    await _referral(db, "unknown-flow-366", 366, ("isa-gone", 1, "old"))
    await _referral(db, "old-version-366", 366, ("isa-health", 1, "navigators"))
    report = await run_retention(db, RETAINED, NOW, embedded=True)
    async with db.engine.connect() as conn:
        reduced = {
            r.id
            for r in await conn.execute(
                select(referrals.c.id).where(referrals.c.reduced_at.is_not(None))
            )
        }
    assert reduced == {
        "undisclosed-old",
        "long-flow-731",
        "short-flow-101",
        "unknown-flow-366",
        "old-version-366",
    }
    assert report.referrals == 5


async def test_a_receiver_s_copy_is_kept_for_its_own_flow(db: Database) -> None:
    rows = EvidenceRows()

    def copy(name: str, age_days: float, flow: tuple[str, int, str] | None) -> None:
        payload: dict[str, Any] = {"data": {"subject": {"name": "x"}}}
        if flow is not None:
            payload |= dict(
                zip(("agreement_id", "agreement_version", "flow_id"), flow, strict=True)
            )
        rows.offer(name, "navigators-birmingham", _ago(age_days), payload=payload)

    copy("long-400", 400, LONG)
    copy("long-731", 731, LONG)
    copy("short-101", 101, SHORT)
    copy("short-99", 99, SHORT)
    copy("unknown-366", 366, ("isa-gone", 1, "old"))
    copy("unknown-364", 364, ("isa-gone", 1, "old"))
    copy("no-flow-366", 366, None)
    await rows.write(db)
    report = await run_retention(db, RETAINED, NOW, embedded=True)
    t = received_referrals.c
    async with db.engine.connect() as conn:
        found = {
            r.referral_id: r.payload for r in await conn.execute(select(t.referral_id, t.payload))
        }
        reduced = {
            r.referral_id
            for r in await conn.execute(select(t.referral_id).where(t.reduced_at.is_not(None)))
        }
    assert reduced == {"long-731", "short-101", "unknown-366", "no-flow-366"}
    assert report.received_referrals == 4
    assert all(found[k]["data"] == {} for k in reduced)
    assert found["long-400"]["data"] == {"subject": {"name": "x"}}
