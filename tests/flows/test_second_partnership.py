"""A second, independent partnership (tests/configurations/severnside) routed end to end:
its own vocabularies, areas from a loaded ONS Postcode Directory extract, a phone-only
flow, a hub that may read only age bands, and no demo keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.demo import demo_key, seed_demo_partners
from services.intake.auth.keys import issue
from testkit.partner import (
    assert_problem,
    bearer,
    inbox_entry,
    post_referral,
    submit,
    wait_status,
)
from testkit.partnerships import SEVERNSIDE
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.database import Database
from vrp.store.geography import load_directory
from vrp.store.migrate import upgrade
from vrp.store.unit import unit_of_work


def referral(**changes: Any) -> dict[str, Any]:
    """A Severnside referral: a 17-year-old in Bristol, present at a firearm discharge."""
    base: dict[str, Any] = {
        "subject__postcode": "BS1 4ST",
        "subject__date_of_birth": "2009-01-10",
        "subject__contact": {"phone": "07700 900321", "email": "kit@example.com"},
        "reasons": ["firearm-discharge"],
    }
    return example(**(base | changes))


async def keys(url: str, *orgs: str) -> dict[str, dict[str, str]]:
    db = Database(url)
    try:
        async with unit_of_work(db) as unit:
            return {org: bearer(await issue(unit, org)) for org in orgs}
    finally:
        await db.dispose()


async def test_a_second_partnership_is_routed_end_to_end(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    settings = runtime_settings(url, mail_dir=tmp_path / "mail", config_dir=SEVERNSIDE)
    async with serving(settings) as served:
        client = served.client
        db = Database(url)
        try:
            assert await load_directory(db, SEVERNSIDE / "postcodes.csv") == 3  # one terminated
        finally:
            await db.dispose()
        k = await keys(url, "bri-ed", "street-mentors", "severn-hub", "ghost-org")

        # Demo keys exist only with the demo partnership.
        assert (await post_referral(client, bearer(demo_key("uhb")))).status_code == 401

        # Its own vocabularies: served, in the OpenAPI document, and enforced.
        vocabularies = (await client.get("/v1/vocabularies")).json()
        assert set(vocabularies["reasons"]["codes"]) == {
            "youth-violence",
            "exploitation",
            "firearm-discharge",
        }
        assert "vital-interests" not in vocabularies["override-grounds"]["codes"]
        openapi = (await client.get("/openapi.json")).json()
        reasons = openapi["components"]["schemas"]["ReferralSubmission"]["properties"]["reasons"]
        assert reasons["items"]["enum"] == ["exploitation", "firearm-discharge", "youth-violence"]
        national = referral(reasons=["knife-crime"])
        assert_problem(await post_referral(client, k["bri-ed"], body=national), 422, "reasons.0")

        # Routed by the directory's area, to a flow that permits the phone only.
        accepted = await submit(client, k["bri-ed"], body=referral())
        entry = await inbox_entry(client, accepted["id"], k["street-mentors"])
        data = entry["referral"]["data"]
        assert data["subject.phone"] == "07700 900321"
        assert data["subject.date_of_birth"] == "16-17"
        assert "kit@example.com" not in str(entry)

        # A local authority that contradicts the postcode is refused, naming the field.
        wrong = referral(subject__local_authority="E06000024")
        assert_problem(
            await post_referral(client, k["bri-ed"], body=wrong), 422, "subject.local_authority"
        )

        # An unknown postcode is held with a clear reason; the hub reads only what its
        # flow permits (no area detail is quoted, the age only as a band).
        held = await submit(
            client, k["bri-ed"], body=referral(subject__postcode="ZZ99 9ZZ", risk="standard")
        )
        status = await wait_status(client, held["status_url"], k["bri-ed"], ["held"])
        [decided] = [e for e in status["timeline"] if e["type"] == "held"]
        assert decided["detail"]["held_reasons"] == [
            "street-mentoring: ineligible-area (area unknown: the postcode is not in the "
            "geography table and the referral gave no subject.local_authority)"
        ]
        hub = await inbox_entry(client, held["id"], k["severn-hub"])
        assert hub["referral"]["held_reasons"] == decided["detail"]["held_reasons"]
        assert hub["referral"]["data"] == {
            "reasons": ["firearm-discharge"],
            "subject.date_of_birth": "16-17",
        }

        # A sender the configuration does not know is refused at once, not lost later.
        ghost = assert_problem(await post_referral(client, k["ghost-org"], body=referral()), 422)
        assert "not in the routing configuration in force" in ghost["detail"]


async def test_demo_keys_left_from_a_demo_run_stop_working_with_another_configuration(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    db = Database(url)
    await upgrade(db)
    await seed_demo_partners(db)
    await db.dispose()
    settings = runtime_settings(url, mail_dir=tmp_path / "mail", config_dir=SEVERNSIDE)
    async with serving(settings) as served:
        r = await post_referral(served.client, bearer(demo_key("uhb")), body=referral())
        assert r.status_code == 401, r.text
