"""The evidence a referral leaves through real HTTP, on the embedded runtime with SQLite and
with PostgreSQL: its coded facts (sex, age, reasons, area, LSOA, keyed pseudonym) written
with it, the offer's accepted / first-contact / closed times as the receiver answers through
the API and the console, and the backfill of referrals stored before those existed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select, update

from services.commands import backfill
from services.demo import demo_key
from testkit.console import csrf_of, signed_in
from testkit.infrastructure import reachable_postgres, reset_postgres
from testkit.partner import assert_problem, bearer, inbox_entry, respond, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.domain.audit import nhs_pseudonym
from vrp.domain.referral import age_on
from vrp.store.database import Database
from vrp.store.tables import postcode_areas, received_referrals, referral_facts

UHB = bearer(demo_key("uhb"))
NAVIGATORS = bearer(demo_key("navigators"))
LSOA = "E01009001"


@dataclass
class System:
    served: Served
    key: bytes

    @property
    def client(self) -> httpx.AsyncClient:
        return self.served.client

    @property
    def db(self) -> Database:
        return self.served.runtime.db


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """The embedded runtime with a postcode directory that knows one postcode's LSOA and
    another's local authority only."""
    tmp = tmp_path_factory.mktemp("evidence")
    if request.param == "sqlite":
        url = sqlite_url(tmp)
    else:
        url = await reachable_postgres()
        await reset_postgres(url)
    settings = runtime_settings(url, mail_dir=tmp / "mail")
    async with serving(settings) as served:
        async with served.runtime.db.transaction() as conn:
            await conn.execute(
                insert(postcode_areas),
                [
                    {"postcode": "B10 0AA", "local_authority": "E08000025", "lsoa": LSOA},
                    {"postcode": "B10 9XQ", "local_authority": "E08000025", "lsoa": None},
                ],
            )
        yield System(served, settings.pseudonym_key.get_secret_value().encode())


async def facts_of(db: Database, referral_id: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(referral_facts).where(referral_facts.c.referral_id == referral_id)
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


async def routed(s: System, **changes: Any) -> tuple[str, dict[str, Any]]:
    """A referral from A&E, in the navigators' inbox: its id and their entry."""
    accepted = await submit(s.client, UHB, body=example(**changes))
    entry = await inbox_entry(s.client, accepted["id"], NAVIGATORS)
    return str(accepted["id"]), entry


async def test_a_referral_is_stored_with_its_coded_facts(system: System) -> None:
    rid, entry = await routed(
        system, subject__sex="female", reasons=["knife-crime", "assault-injury", "knife-crime"]
    )
    facts = await facts_of(system.db, rid)
    assert facts is not None
    today = datetime.now(UTC)
    assert facts == {
        "referral_id": rid,
        "referred_at": facts["referred_at"],
        "month": facts["referred_at"].strftime("%Y-%m"),
        "source_kind": "nhs-trust",
        "local_authority": "E08000025",
        "lsoa": LSOA,
        "age": age_on(date(2010, 3, 14), facts["referred_at"].date()),
        "sex": "female",
        "reason": "knife-crime",  # the first given is the primary reason
        "reasons": "assault-injury knife-crime",
        "pseudonym": nhs_pseudonym(system.key, "9434765919"),  # the router's subject key
    }
    assert abs(facts["referred_at"] - today) < timedelta(minutes=1)
    # The demo's A&E-to-navigators agreement shares the person's sex with the navigators.
    assert entry["referral"]["data"]["subject.sex"] == "female"


async def test_without_an_lsoa_or_a_sex_the_facts_say_none(system: System) -> None:
    rid, entry = await routed(system, subject__postcode="B10 9XQ")
    facts = await facts_of(system.db, rid)
    assert facts is not None
    assert facts["lsoa"] is None and facts["sex"] is None
    assert facts["local_authority"] == "E08000025"
    assert "subject.sex" not in entry["referral"]["data"]


async def test_a_sex_outside_the_codes_is_refused_naming_the_field(system: System) -> None:
    r = await system.client.post(
        "/v1/referrals",
        json=example(subject__sex="f"),
        headers={**UHB, "Idempotency-Key": "evidence-bad-sex-1"},
    )
    assert_problem(r, 422, "subject.sex")
    codes = (await system.client.get("/v1/vocabularies", headers=UHB)).json()["sexes"]["codes"]
    assert set(codes) == {"female", "male", "indeterminate", "not-known"}


async def test_the_offer_times_follow_the_responses_and_first_contact(system: System) -> None:
    rid, entry = await routed(system)
    offered = datetime.fromisoformat(entry["received_at"])
    now = datetime.now(UTC)

    future = (now + timedelta(hours=1)).isoformat()
    r = await respond(system.client, NAVIGATORS, rid, status="accepted", first_contact_at=future)
    problem = assert_problem(r, 422, "accepted.first_contact_at")
    assert "future" in problem["errors"][0]["detail"]
    early = (offered - timedelta(minutes=1)).isoformat()
    r = await respond(system.client, NAVIGATORS, rid, status="accepted", first_contact_at=early)
    assert "before the referral was offered" in assert_problem(r, 422)["errors"][0]["detail"]
    r = await respond(
        system.client, NAVIGATORS, rid, status="accepted", first_contact_at=1_800_000_000
    )
    assert_problem(r, 422, "accepted.first_contact_at")
    # Refused whole: still awaiting, nothing recorded.
    assert (await inbox_entry(system.client, rid, NAVIGATORS))["status"] == "awaiting"

    r = await respond(system.client, NAVIGATORS, rid, status="accepted")
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    accepted_at = datetime.fromisoformat(item["accepted_at"])
    assert offered <= accepted_at <= datetime.now(UTC)
    assert item["first_contact_at"] is None and item["closed_at"] is None

    contact = now.replace(microsecond=0)
    if contact < offered:
        contact = offered
    r = await respond(
        system.client, NAVIGATORS, rid, status="in-progress", first_contact_at=contact.isoformat()
    )
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert datetime.fromisoformat(item["first_contact_at"]) == contact
    assert item["status"] == "in-progress"
    # The same time again is a harmless repeat; another is refused.
    again = await respond(
        system.client, NAVIGATORS, rid, status="in-progress", first_contact_at=contact.isoformat()
    )
    assert again.status_code == 200, again.text
    later = (contact + timedelta(seconds=30)).isoformat()
    other = await respond(
        system.client, NAVIGATORS, rid, status="in-progress", first_contact_at=later
    )
    assert "already recorded" in assert_problem(other, 409)["detail"]

    r = await respond(system.client, NAVIGATORS, rid, status="completed", outcome="engaged")
    [item] = r.json()["items"]
    assert datetime.fromisoformat(item["accepted_at"]) == accepted_at  # kept, not moved
    closed = datetime.fromisoformat(item["closed_at"])
    assert accepted_at <= closed <= datetime.now(UTC)

    # The referrer's timeline says when the first contact was recorded (once).
    status = await wait_status(system.client, f"/v1/referrals/{rid}", UHB, ["completed"])
    recorded = [e for e in status["timeline"] if e["type"] == "first-contact"]
    assert len(recorded) == 1
    assert datetime.fromisoformat(recorded[0]["detail"]["first_contact_at"]) == contact


async def test_a_decline_closes_the_offer_without_accepting_it(system: System) -> None:
    rid, _ = await routed(system)
    r = await respond(system.client, NAVIGATORS, rid, status="declined", reason="no-capacity")
    [item] = r.json()["items"]
    assert item["accepted_at"] is None and item["first_contact_at"] is None
    assert item["closed_at"] is not None


async def test_the_team_records_first_contact_in_the_console(system: System) -> None:
    rid, entry = await routed(system)
    async with httpx.AsyncClient(base_url=system.client.base_url, timeout=10) as browser:
        await signed_in(browser, "navigators.member")
        page = await browser.get(f"/console/referrals/{rid}")
        assert "Record the first contact" not in page.text  # not before it is accepted
        r = await browser.post(
            f"/console/referrals/{rid}/response",
            data={"status": "accepted", "csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 303
        page = await browser.get(f"/console/referrals/{rid}")
        assert "Record the first contact" in page.text
        form = {"csrf_token": csrf_of(page.text), "intervention": entry["intervention"]}
        url = f"/console/referrals/{rid}/first-contact"

        bad = await browser.post(
            url, data=form | {"contact_date": "7/12/2026", "contact_time": "9"}
        )
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        future = {"contact_date": tomorrow.date().isoformat(), "contact_time": "09:00"}
        r = await browser.post(url, data=form | future)
        assert r.status_code == 422 and "The first contact is in the future" in r.text

        at = datetime.now(UTC).replace(second=0, microsecond=0)
        offered = datetime.fromisoformat(entry["received_at"])
        if at < offered:  # the same minute as the offer: a minute later is not the future
            at += timedelta(minutes=1)
        when = {"contact_date": at.date().isoformat(), "contact_time": at.strftime("%H:%M")}
        r = await browser.post(url, data=form | when)
        assert r.status_code == 303 and r.headers["location"].endswith("?done=first-contact")
        page = await browser.get(r.headers["location"])
        assert "The first contact was recorded" in page.text
        shown = at.strftime("%d %b %Y %H:%M UTC")
        assert f"First contact with the person on {shown}, recorded by" in page.text
        assert "Record the first contact" not in page.text  # recorded once
    item = await inbox_entry(system.client, rid, NAVIGATORS)
    assert datetime.fromisoformat(item["first_contact_at"]) == at


async def _offer_times(system: System, rid: str) -> tuple[object, ...]:
    """The referral's offer's accepted and closed times, as stored."""
    c = received_referrals.c
    async with system.db.engine.connect() as conn:
        row = (
            await conn.execute(select(c.accepted_at, c.closed_at).where(c.referral_id == rid))
        ).one()
    return tuple(row)


async def test_backfill_fills_in_what_referrals_before_0013_lack_once(system: System) -> None:
    rid, _ = await routed(system, subject__sex="male")
    assert (await respond(system.client, NAVIGATORS, rid, status="accepted")).status_code == 200
    r = await respond(system.client, NAVIGATORS, rid, status="completed", outcome="engaged")
    assert r.status_code == 200
    written = await facts_of(system.db, rid)
    times = await _offer_times(system, rid)
    # As if stored before migration 0013: no facts, no offer times.
    async with system.db.transaction() as conn:
        await conn.execute(delete(referral_facts))
        await conn.execute(update(received_referrals).values(accepted_at=None, closed_at=None))
    config = system.served.runtime.config()
    done = await backfill.run(system.db, config, system.key)
    assert done.facts >= 1 and done.offers >= 1 and done.unreadable == 0
    assert await facts_of(system.db, rid) == written  # what intake wrote at the time
    again = await _offer_times(system, rid)
    # The timeline's times: the same as the responses wrote (each the response's own time).
    assert again == times
    assert await backfill.run(system.db, config, system.key) == backfill.Backfilled()
