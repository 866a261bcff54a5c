"""`vrp demo seed`: two years of fictional history for the demo partnership, shaped like the
real thing (population, seasons, the engine's own decisions, responses, outcomes) and
written so that every reader sees it as the services would have left it."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
from vrp.demo_geography import demo_deprivation
from vrp.domain.engine import decide
from vrp.domain.evidence.bands import band
from vrp.domain.facts import Facts
from vrp.domain.geography import area_for
from vrp.domain.identifiers import nhs_number_is_valid
from vrp.domain.referral import Referral, age_on
from vrp.settings import DEMO_CONFIG_DIR, Settings
from vrp.store import audit, history
from vrp.store.database import Database
from vrp.store.evidence_tables import referral_facts
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
    """Two years seeded once into SQLite, for every test here that only reads it."""
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
    assert 9000 <= len(rows) <= 15000  # about 5,700 a year, and the re-referrals
    assert len(rows) == year.seeded.referrals == year.seeded.rows["referrals"]
    assert min(r.created_at for r in rows) >= year.now - timedelta(days=730)
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
    recent = Counter(
        d.outcome
        for d in await _all(year.db, decisions.c.outcome, decisions.c.decided_at)
        if d.decided_at >= year.now - timedelta(days=365)
    )
    # Most of the last year's are routed (the older year had fewer agreements in force).
    assert recent["routed"] > 2 * recent["held"] > 0
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


async def test_nothing_is_published_retention_keeps_the_last_year_and_the_audit_chain_holds(
    year: Year,
) -> None:
    assert await _count(year.db, outbox) == 0
    days = Settings().referral_retention_days
    retained = Retained.of(CONFIG, days, 30)
    report = await run_retention(year.db, retained, year.now, embedded=True, dry_run=True)
    older = sum(
        1
        for (at,) in await _all(year.db, referrals.c.created_at)
        if at <= year.now - timedelta(days=days)
    )
    # Only the older year runs out (what it was disclosed under may keep some longer).
    assert 0 < report.counts()["referrals"] <= older
    async with reading(year.db) as unit:
        assert await audit.verify(unit) is None
    assert (
        await _count(year.db, audit_log)
        == year.seeded.rows["audit_log"]
        > year.seeded.rows["disclosures"]
    )


async def test_the_dashboard_shows_no_suppressed_figure(year: Year, tmp_path: Path) -> None:
    # Two years of history on SQLite, on a machine that may be busy: a patient client.
    async with serving(runtime_settings(year.url, mail_dir=tmp_path), timeout=60) as served:
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


THRESHOLD = Settings().console_disclosure_threshold
BIG = (
    "gp-domestic-abuse-advocates",
    "navigators-birmingham",
    "navigators-black-country",
    "schools-violence-prevention",
    "through-the-gate",
)
"""The interventions with hundreds of offers a year: every figure of theirs must show."""


async def test_every_referral_has_its_coded_facts_in_a_fictional_lsoa(year: Year) -> None:
    facts = {f.referral_id: f for f in await _all(year.db, *referral_facts.c)}
    bodies = dict(await _all(year.db, referrals.c.id, referrals.c.body))
    assert set(facts) == set(bodies) and year.seeded.rows["referral_facts"] == len(facts)
    pseudonyms = dict(await _all(year.db, subject_index.c.referral_id, subject_index.c.pseudonym))
    lsoas = demo_deprivation()
    whole = 0
    for rid, body in bodies.items():
        f = facts[rid]
        if "submission" not in body:  # reduced by retention (a served runtime runs it)
            assert f.reasons == " ".join(sorted(body["reasons"]))
        else:
            whole += 1
            subject = body["submission"]["subject"]
            assert f.pseudonym == pseudonyms[rid]
            assert f.reason == body["submission"]["reasons"][0]
            assert f.reasons == " ".join(sorted(body["submission"]["reasons"]))
            born = date.fromisoformat(subject["date_of_birth"])
            assert f.age == age_on(born, f.referred_at.date())
        assert (
            f.month == f.referred_at.strftime("%Y-%m")
            and f.local_authority == body["local_authority"]
        )
        assert lsoas[f.lsoa].local_authority == f.local_authority  # the postcode's own LSOA
    assert whole > len(bodies) / 3  # at least the last year's are whole
    sexes = Counter(f.sex for f in facts.values())
    assert set(sexes) == {"female", "male", "indeterminate", "not-known"}
    assert sexes["female"] > THRESHOLD * 100 and sexes["male"] > THRESHOLD * 100


async def test_offers_carry_acceptance_first_contact_and_closing_times(year: Year) -> None:
    offers = [c for c in await _all(year.db, *received_referrals.c) if c.kind == "offer"]
    for o in offers:
        assert (o.accepted_at is not None) == (o.status in ("accepted", "in-progress", "completed"))
        if o.first_contact_at is not None:
            assert o.accepted_at is not None and o.accepted_at < o.first_contact_at
        assert (o.closed_at is not None) == (o.status in ("declined", "completed"))
        if o.closed_at is not None:
            assert o.closed_at == o.updated_at
        if o.status == "completed":
            assert o.first_contact_at is not None and o.first_contact_at < o.closed_at
    accepted = [o for o in offers if o.accepted_at is not None]
    never_reached = [o for o in accepted if o.first_contact_at is None]
    assert 0.05 < len(never_reached) / len(accepted) < 0.3  # the comparison's non-engagers


def _period(year: Year, years_back: int) -> tuple[datetime, datetime]:
    end = year.now - timedelta(days=365 * years_back)
    return end - timedelta(days=365), end


@pytest.mark.parametrize("years_back", [0, 1], ids=["last year", "the year before"])
async def test_every_big_interventions_funnel_shows_above_the_threshold(
    year: Year, years_back: int
) -> None:
    """The last year's funnel and declines by reason, and the year before's funnel (the
    schools' agreement began part-way through it), each stage well above the threshold."""
    start, end = _period(year, years_back)
    offers = [
        c
        for c in await _all(year.db, *received_referrals.c)
        if c.kind == "offer" and start <= c.received_at < end
    ]
    declines = CONFIG.codes.codes["decline_reasons"]
    big = BIG if not years_back else [i for i in BIG if i != "schools-violence-prevention"]
    for intervention in big:
        mine = [o for o in offers if o.intervention == intervention]
        stages = (
            mine,
            [o for o in mine if o.accepted_at is not None],
            [o for o in mine if o.first_contact_at is not None],
            [o for o in mine if o.status == "completed"],
        )
        assert [len(s) >= THRESHOLD * 10 for s in stages] == [True] * 4, intervention
        if years_back:
            continue
        by_reason = Counter(o.reason for o in mine if o.status == "declined")
        assert set(by_reason) <= set(declines), intervention
        assert min(by_reason.values()) >= THRESHOLD and len(by_reason) >= 5, (
            intervention,
            by_reason,
        )


async def test_people_are_referred_again_more_often_when_they_did_not_engage(year: Year) -> None:
    """The demo's re-referrals within six months of the index date, per big intervention:
    both groups (completers; decliners and the never reached) have more re-referred
    people than the threshold, and the completers return less often."""
    start, end = _period(year, 0)
    offers = [c for c in await _all(year.db, *received_referrals.c) if c.kind == "offer"]
    facts = await _all(year.db, referral_facts.c.referral_id, referral_facts.c.pseudonym)
    person = dict(facts)
    times: dict[str, list[datetime]] = {}
    for f in await _all(year.db, referral_facts.c.pseudonym, referral_facts.c.referred_at):
        times.setdefault(f.pseudonym, []).append(f.referred_at)
    window = timedelta(days=183)
    for intervention in BIG:
        mine = [o for o in offers if o.intervention == intervention]
        engaged: dict[str, datetime] = {}
        for o in mine:
            if o.status == "completed" and start <= o.closed_at < end:
                who = person[o.referral_id]
                engaged[who] = min(engaged.get(who, o.closed_at), o.closed_at)
        others: dict[str, datetime] = {}
        for o in mine:
            who = person[o.referral_id]
            if who in engaged or not start <= o.received_at < end:
                continue
            if o.status == "declined" or (o.first_contact_at is None and o.status != "completed"):
                index = o.closed_at or o.received_at
                others[who] = min(others.get(who, index), index)

        def again(group: dict[str, datetime]) -> tuple[int, int]:
            elapsed = {w: t for w, t in group.items() if t + window <= year.now}
            back = sum(
                1 for w, t in elapsed.items() if any(t < at <= t + window for at in times[w])
            )
            return back, len(elapsed)

        (e_back, e_n), (o_back, o_n) = again(engaged), again(others)
        assert e_back >= THRESHOLD and o_back >= THRESHOLD, (intervention, e_back, o_back)
        assert e_back / e_n < o_back / o_n, intervention


@pytest.mark.parametrize("years_back", [0, 1], ids=["last year", "the year before"])
async def test_needs_assessment_cells_show_above_the_threshold(year: Year, years_back: int) -> None:
    start, end = _period(year, years_back)
    facts = [f for f in await _all(year.db, *referral_facts.c) if start <= f.referred_at < end]
    lsoas = demo_deprivation()
    cells: dict[str, Counter[str]] = {
        "local authority": Counter(f.local_authority for f in facts),
        "sex": Counter(f.sex for f in facts if f.sex in ("female", "male")),
        "age band": Counter(band(f.age) for f in facts),
        "decile": Counter(str(lsoas[f.lsoa].decile) for f in facts),
        "month": Counter(f.month for f in facts),
        "local authority and sex": Counter(
            f"{f.local_authority} {f.sex}" for f in facts if f.sex in ("female", "male")
        ),
    }
    assert len(cells["local authority"]) == 7 and len(cells["decile"]) == 10
    for name, counts in cells.items():
        assert min(counts.values()) >= THRESHOLD, (name, counts)
    # Referrals per resident fall with deprivation: decile 1 well above decile 10.
    residents = Counter[str]()
    for d in lsoas.values():
        residents[str(d.decile)] += d.population
    rate = {k: cells["decile"][k] / residents[k] for k in ("1", "10")}
    assert rate["1"] > 2 * rate["10"]
