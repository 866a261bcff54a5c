"""`vrp demo seed`: a year of fictional history for the demo partnership, shaped like the
real thing (population, seasons, the engine's own decisions, responses, outcomes) and
written so that every reader sees it as the services would have left it."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.history.draw import draw_year
from services.history.rows import HistoryRouter
from services.history.seed import Seeded, SeedRefused, seed
from services.history.streams import POPULATION
from testkit.cli import vrp
from testkit.console import signed_in
from testkit.partnerships import SEVERNSIDE
from testkit.runtime import runtime_settings, serving
from vrp.config_files import load_configuration
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.geography import area_for
from vrp.domain.identifiers import nhs_number_is_valid
from vrp.domain.referral import Referral
from vrp.settings import DEMO_CONFIG_DIR, Settings
from vrp.store import audit, history
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.reduction import Retained, run_retention
from vrp.store.tables import (
    audit_log,
    decisions,
    disclosures,
    outbox,
    received_referrals,
    referral_timeline,
    referrals,
    subject_index,
)
from vrp.store.unit import reading

KEY = Settings().pseudonym_key.get_secret_value().encode()
CONFIG = load_configuration(DEMO_CONFIG_DIR)
SEED = 1


@dataclass
class Year:
    """A database seeded with the default seed, and what seeding said it wrote."""

    db: Database
    url: str
    seeded: Seeded
    now: datetime


async def _all(db: Database, *columns: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(await conn.execute(select(*columns)))


async def _count(db: Database, table: Any) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture(scope="module")
async def year(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Year]:
    """A year seeded once into SQLite, for every test here that only reads it."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('history')}/vrp.db"
    db = Database(url)
    await upgrade(db)
    now = datetime.now(UTC)
    seeded = await seed(db, CONFIG, KEY, SEED, now)
    print(f"seeded {seeded.referrals} referrals on SQLite in {seeded.seconds:.1f} s: {seeded.rows}")
    yield Year(db, url, seeded, now)
    await db.dispose()


async def test_a_year_of_referrals_follows_population_and_the_seasons(year: Year) -> None:
    rows = await _all(
        year.db, referrals.c.local_authority, referrals.c.source_org, referrals.c.created_at
    )
    assert 4500 <= len(rows) <= 7000
    assert len(rows) == year.seeded.referrals == year.seeded.rows["referrals"]
    assert min(r.created_at for r in rows) >= year.now - timedelta(days=365)
    assert max(r.created_at for r in rows) < year.now
    by_area = Counter(r.local_authority for r in rows)
    people = sum(POPULATION.values())
    for area, residents in POPULATION.items():
        # Each local authority's share of referrals is close to its share of residents.
        assert abs(by_area[area] / len(rows) - residents / people) < 0.03, area
    ae = [r.created_at for r in rows if r.source_org in ("uhb", "uhcw", "rwt")]
    summer = sum(1 for at in ae if at.month in (7, 8)) / 62
    spring = sum(1 for at in ae if at.month in (3, 4)) / 61
    assert summer > 1.15 * spring  # more violence seen in A&E in the summer
    late = sum(1 for at in ae if at.hour >= 21 or at.hour < 3)
    assert late / len(ae) > 0.3  # 6 hours of 24, a third of attendances: the night economy
    weekend = sum(1 for at in ae if at.weekday() >= 4)
    assert weekend / len(ae) > 3 / 7 + 0.05  # Friday to Sunday
    school = [r.created_at for r in rows if r.source_org == "example-park-academy"]
    assert school and not any(at.month == 8 or at.weekday() >= 5 for at in school)


async def test_each_referral_is_decided_by_the_engine_and_answered_within_its_lifecycle(
    year: Year,
) -> None:
    stored = {
        r.id: r for r in await _all(year.db, referrals.c.id, referrals.c.body, referrals.c.status)
    }
    decided = await _all(
        year.db, decisions.c.referral_id, decisions.c.outcome, decisions.c.chosen, decisions.c.facts
    )
    assert {d.referral_id for d in decided} == set(stored)
    outcomes = Counter(d.outcome for d in decided)
    assert outcomes["routed"] > 2 * outcomes["held"] > 0
    # A sample decided again by the engine from its stored facts chooses the same.
    for d in random.Random(5).sample(decided, 200):
        facts = Facts.from_json(d.facts)
        referral = Referral.model_validate(stored[d.referral_id].body)
        again = decide(facts, CONFIG, KEY, referral)
        assert (again.outcome, " ".join(r.intervention for r in again.recipients)) == (
            d.outcome,
            d.chosen,
        )
    copies = await _all(year.db, *received_referrals.c)
    offers = [c for c in copies if c.kind == "offer"]
    assert len(offers) == sum(len(d.chosen.split()) for d in decided)
    assert len([c for c in copies if c.kind == "triage"]) == outcomes["held"]
    disclosed = await _all(year.db, disclosures.c.event_id)
    assert {c.event_id for c in offers} <= {e for (e,) in disclosed}
    states = Counter(c.status for c in offers)
    assert {"accepted", "declined", "in-progress", "completed", "cancelled"} <= set(states)
    vocab = CONFIG.codes.codes
    assert {c.reason for c in offers if c.status == "declined"} <= set(vocab["decline_reasons"])
    assert {c.outcome for c in offers if c.status == "completed"} <= set(vocab["outcomes"])
    accepted_at = {
        (t.referral_id, t.detail["intervention"]): t.at
        for t in await _all(year.db, *referral_timeline.c)
        if t.type == "accepted"
    }
    late = sum(
        1
        for c in offers
        if (c.referral_id, c.intervention) in accepted_at
        and accepted_at[(c.referral_id, c.intervention)]
        > datetime.fromisoformat(c.payload["respond_by"])
    )
    assert 0.04 < late / len(accepted_at) < 0.2  # mostly within the SLA, some breaches
    status = Counter(r.status for r in stored.values())
    assert status["cancelled"] > 0 and status["held"] == 0  # the hub triaged every one


async def test_every_person_is_fictional_and_lives_where_their_postcode_says(year: Year) -> None:
    for (body,) in await _all(year.db, referrals.c.body):
        subject = body["submission"]["subject"]
        assert subject["nhs_number"].startswith("999")
        assert nhs_number_is_valid(subject["nhs_number"])
        assert area_for(subject["postcode"]) == body["local_authority"]
        assert subject["contact"]["phone"].startswith("07700 900")
        assert body["submission"]["summary"].startswith("Fictional demo case")


async def test_repeat_referrals_count_towards_the_marac_criterion(year: Year) -> None:
    per_person = Counter(p for (p,) in await _all(year.db, subject_index.c.pseudonym))
    assert sum(1 for n in per_person.values() if n >= 3) >= 5
    matched = [d.detail["matched_rules"] for d in await _all(year.db, decisions.c.detail)]
    assert sum(1 for m in matched if "repeat-domestic-abuse" in m) >= 5


async def test_nothing_is_published_retention_keeps_it_and_the_audit_chain_holds(
    year: Year,
) -> None:
    assert await _count(year.db, outbox) == 0
    retained = Retained.of(CONFIG, Settings().referral_retention_days, 30)
    report = await run_retention(year.db, retained, year.now, embedded=True, dry_run=True)
    assert report.counts()["referrals"] == report.counts()["received_referrals"] == 0
    async with reading(year.db) as unit:
        assert await audit.verify(unit) is None
    assert (
        await _count(year.db, audit_log)
        == year.seeded.rows["audit_log"]
        > year.seeded.rows["disclosures"]
    )


async def test_the_dashboard_shows_no_suppressed_figure(year: Year, tmp_path: Path) -> None:
    async with serving(runtime_settings(year.url, mail_dir=tmp_path)) as served:
        await signed_in(served.client, "ig.lead")
        page = await served.client.get("/console/dashboard")
    assert page.status_code == 200
    figures = page.text.split('<dl class="summary">', 1)[1]  # after the marker explained
    assert "suppressed" not in figures and "too few" not in figures
    assert f'id="total-referrals">{year.seeded.referrals}<' in page.text


async def test_a_second_seeding_is_refused_and_writes_nothing(year: Year) -> None:
    with pytest.raises(SeedRefused, match="already holds seeded demo history") as refused:
        await seed(year.db, CONFIG, KEY, SEED + 1, year.now)
    assert refused.value.seeded_before
    async with reading(year.db) as unit:
        assert await history.seeded(unit) == year.seeded.referrals


async def test_a_partnership_of_its_own_is_never_seeded(sqlite_db: Database) -> None:
    with pytest.raises(SeedRefused, match="not the packaged demo partnership"):
        await seed(sqlite_db, load_configuration(SEVERNSIDE), KEY, SEED)
    assert await _count(sqlite_db, referrals) == 0


def test_the_commands_refuse_a_partnership_of_its_own(tmp_path: Path) -> None:
    env = os.environ | {
        "VRP_CONFIG_DIR": str(SEVERNSIDE),
        "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db",
    }
    seeded = vrp("demo", "seed", env=env)
    assert seeded.returncode == 1
    assert "not the packaged demo partnership" in seeded.stderr
    up = vrp("up", "--demo-history", "--port", "0", env=env)
    assert up.returncode == 2  # refused before serving anything
    assert "not the packaged demo partnership" in up.stderr


def _drawn(seed_value: int, now: datetime) -> list[tuple[Any, ...]]:
    rng = random.Random(seed_value)
    end = datetime.combine(now.date(), datetime.min.time(), UTC)
    router = HistoryRouter(CONFIG, KEY, rng, end)
    rows = history.Rows()
    for d in draw_year(rng, end, days=30):
        router.add(rows, d)
    return [(r["id"], r["body"], r["status"]) for r in rows.referrals] + [
        (c["referral_id"], c["status"], c["updated_at"]) for c in rows.copies
    ]


def test_a_seed_draws_the_same_history_every_time_and_another_seed_another() -> None:
    now = datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert _drawn(3, now) == _drawn(3, now)
    assert _drawn(3, now) != _drawn(4, now)


@pytest.mark.postgres
async def test_a_year_seeds_on_postgresql_as_it_does_on_sqlite(pg_db: Database, year: Year) -> None:
    seeded = await seed(pg_db, CONFIG, KEY, SEED, year.now)
    print(f"seeded {seeded.referrals} referrals on PostgreSQL in {seeded.seconds:.1f} s")
    assert seeded.rows == year.seeded.rows
    async with reading(pg_db) as unit:
        assert await history.seeded(unit) == year.seeded.referrals
        assert await audit.verify(unit) is None
    with pytest.raises(SeedRefused, match="already holds"):
        await seed(pg_db, CONFIG, KEY, SEED, year.now)
