"""Referral retention with an injected clock: once the flow's period runs out, no copy of the
person's identifiers is left in any table or outbox row, and the audit chain still verifies.
Runs the embedded runtime on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.cli import main
from services.commands.retention import retained
from services.demo import demo_key
from testkit.infrastructure import reachable_postgres, reset_postgres
from testkit.partner import bearer, inbox_entry, submit
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.domain.audit import RETENTION
from vrp.store import audit
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.reduction import ReferralRetention, Report, run_retention
from vrp.store.retention import consumed
from vrp.store.tables import (
    audit_log,
    dead_letter_originals,
    metadata,
    notifications,
    outbox,
    received_referrals,
    referral_facts,
    referral_timeline,
    referrals,
)
from vrp.store.unit import reading

NHS_NUMBER = "9434765870"
IDENTIFIERS = (
    "Quenby",
    "Harrowgate",
    NHS_NUMBER,
    "943 476 5870",
    "B10 9XQ",
    "2009-07-23",
    "07700 900462",
    "Marmalade",
    "Orrin Referrer",
    "orrin.referrer@uhb.example",
)


def distinctive() -> dict[str, Any]:
    """The example referral about a person nobody else could be."""
    return example(
        subject__given_name="Quenby",
        subject__family_name="Harrowgate",
        subject__nhs_number=NHS_NUMBER,
        subject__postcode="B10 9XQ",
        subject__date_of_birth="2009-07-23",
        subject__contact={"phone": "07700 900462"},
        referrer__name="Orrin Referrer",
        referrer__contact={"email": "orrin.referrer@uhb.example"},
        summary="Marmalade scooter incident.",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind (the runtime migrates it)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        url = await reachable_postgres()
        await reset_postgres(url)
        yield url


async def hits(db: Database) -> list[str]:
    """Every table and column (outbox values decoded) holding one of the identifiers."""
    found: list[str] = []
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for column, value in row._mapping.items():
                    text = _text(value)
                    found += [f"{table.name}.{column}: {i}" for i in IDENTIFIERS if i in text]
    return found


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, default=str, ensure_ascii=False)


async def settled(db: Database) -> None:
    """Wait until every alert is sent (the team's and the referrer's: the first alone left the
    second to change rows under the snapshots) and every consumer has read every row."""
    deadline = time.monotonic() + 10
    while True:
        async with db.engine.connect() as conn:
            sent = (
                await conn.execute(
                    select(notifications.c.id).where(notifications.c.status == "sent")
                )
            ).first()
            waiting = (
                await conn.execute(
                    select(notifications.c.id).where(
                        notifications.c.status.in_(("pending", "sending"))
                    )
                )
            ).first()
            told = (
                await conn.execute(
                    select(referral_timeline.c.type).where(referral_timeline.c.type == "alert-sent")
                )
            ).first()
            read = await consumed(conn, datetime.now(UTC) + timedelta(days=1))
            unread = (await conn.execute(select(outbox.c.id).where(~read))).first()
        if sent is not None and waiting is None and told is not None and unread is None:
            return
        assert time.monotonic() < deadline, "the referral was not routed, alerted and read"
        await asyncio.sleep(0.05)


async def snapshot(db: Database) -> list[str]:
    """Every row of every table, to show a run changed nothing."""
    async with db.engine.connect() as conn:
        return [
            f"{t.name}: {_text(list(r))}"
            for t in metadata.sorted_tables
            for r in await conn.execute(select(t))
        ]


async def test_after_retention_no_identifier_remains_and_the_audit_chain_verifies(
    database_url: str, tmp_path: Path
) -> None:
    """Before the period nothing changes; after it, dry run and run agree, no table or outbox
    row names the person, and the chain (which never named them) still verifies."""
    settings = runtime_settings(database_url, mail_dir=tmp_path / "mail")
    async with serving(settings) as s:
        sent = await submit(s.client, bearer(demo_key("uhb")), body=distinctive())
        await inbox_entry(s.client, sent["id"], bearer(demo_key("navigators")))
        start = datetime.now(UTC)
        await settled(s.runtime.db)
        # The schedule's first run happens at start (by the system clock: nothing due); it
        # shares the database with the flow, so it may finish after it or be retried.
        assert s.runtime.retention is not None
        deadline = time.monotonic() + 30
        while s.runtime.retention.last is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert s.runtime.retention.last == Report()
    # Stopped, so nothing moves while the snapshots are compared.
    db = Database(database_url)
    try:
        assert await hits(db), "the identifiers should be stored before retention runs"
        async with db.engine.connect() as conn:
            [kept] = (await conn.execute(select(referral_facts))).mappings().all()
        assert kept["pseudonym"] and kept["reason"] == "assault-injury"
        await audit.seal_all(db)
        async with db.engine.connect() as conn:
            chain = [_text(list(r)) for r in await conn.execute(select(audit_log))]
        assert not [i for i in IDENTIFIERS for c in chain if i in c]

        # Within the period (the demo flow keeps 730 days, undisclosed referrals 365).
        early = start + timedelta(days=364)
        before = await snapshot(db)
        assert await run_retention(db, retained(settings), early, embedded=True) == Report()
        assert await snapshot(db) == before

        late = start + timedelta(days=731)
        dry = await run_retention(db, retained(settings), late, embedded=True, dry_run=True)
        assert await snapshot(db) == before
        assert dry.referrals == 1 and dry.received_referrals == 1 and dry.outbox > 0
        assert dry.blocking == 0
        seen: list[tuple[int, int]] = []
        done = await run_retention(
            db, retained(settings), late, embedded=True, progress=lambda *p: seen.append(p)
        )
        assert done == dry
        assert seen == [(0, 2), (1, 2), (2, 2)]  # the referral, then the receiver's copy

        assert await hits(db) == []
        await audit.seal_all(db)
        async with db.engine.connect() as conn:
            [facts] = (await conn.execute(select(referral_facts))).mappings().all()
            body = (await conn.execute(select(referrals.c.body))).scalar_one()
            copy = (await conn.execute(select(received_referrals.c.payload))).scalar_one()
        async with reading(db) as unit:
            assert await audit.verify(unit) is None
            kinds = [r.kind for r in await audit.records(unit)]
        assert body["reasons"] == ["assault-injury", "knife-crime"] and body["risk"] == "high"
        assert body["consent_state"] == "given" and body["local_authority"]
        assert copy["data"] == {} and copy["flow_id"]
        # The coded facts stay for the evidence; the key linking them to the person goes.
        assert facts["pseudonym"] is None
        assert dict(facts) | {"pseudonym": kept["pseudonym"]} == dict(kept)
        assert kinds[-1] == RETENTION and kinds.count(RETENTION) == 1
        # Nothing is left to do, and doing nothing is not audited.
        assert await run_retention(db, retained(settings), late, embedded=True) == Report()
    finally:
        await db.dispose()


async def _seed_dead_letter(url: str, age: timedelta) -> None:
    db = Database(url)
    await upgrade(db)
    async with db.transaction() as conn:
        await conn.execute(
            dead_letter_originals.insert().values(
                id=str(uuid.uuid4()),
                event_id=None,
                consumer="vrp-router",
                topic="vrp.referral.received",
                position="1",
                original=f'{{"nhs_number": "{NHS_NUMBER}"}}'.encode(),
                reason="unreadable",
                created_at=datetime.now(UTC) - age,
            )
        )
    await db.dispose()


async def _letters_and_chain(url: str) -> tuple[int, list[str], bool]:
    db = Database(url)
    await audit.seal_all(db)
    async with db.engine.connect() as conn:
        letters = len((await conn.execute(select(dead_letter_originals.c.id))).all())
    async with reading(db) as unit:
        kinds = [r.kind for r in await audit.records(unit)]
        intact = await audit.verify(unit) is None
    await db.dispose()
    return letters, kinds, intact


def test_the_command_reports_a_dry_run_then_deletes_old_dead_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vrp retention run --dry-run` changes nothing; the run deletes and is audited."""
    url = sqlite_url(tmp_path)
    asyncio.run(_seed_dead_letter(url, timedelta(days=31)))
    asyncio.run(_seed_dead_letter(url, timedelta(days=29)))
    monkeypatch.setenv("VRP_DATABASE_URL", url)

    def vrp(*argv: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(list(argv)) == 0
        return out.getvalue()

    assert "dead-letter originals deleted: 1 would be" in vrp("retention", "run", "--dry-run")
    assert asyncio.run(_letters_and_chain(url)) == (2, [], True)
    assert "dead-letter originals deleted: 1 were" in vrp("retention", "run")
    assert asyncio.run(_letters_and_chain(url)) == (1, [RETENTION], True)


async def test_a_failed_retention_run_is_tried_again_within_seconds_not_an_hour(
    tmp_path: Path,
) -> None:
    """The database is not ready when the schedule starts (here: not yet migrated); the
    run after it comes a few seconds later, not after the hourly interval."""
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    db = Database(settings.database_url)
    schedule = ReferralRetention(
        db, lambda: retained(settings), every=3600, embedded=True, retry=0.2
    )
    stopping = asyncio.Event()
    running = asyncio.create_task(schedule.run(stopping))
    try:
        await asyncio.sleep(0.5)
        assert schedule.last is None  # the first run failed: no tables yet
        await upgrade(db)
        deadline = time.monotonic() + 10
        while schedule.last is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert schedule.last == Report()
    finally:
        stopping.set()
        await running
        await db.dispose()
