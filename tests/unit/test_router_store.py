"""The router's store: repeat referrals linked by pseudonym, no identifiers kept in clear."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.router.routing import route
from testkit.referrals import example
from vrp.config_files import load_configuration
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import decisions, disclosures, subject_index
from vrp.store.unit import unit_of_work

DEMO = load_configuration(DEMO_CONFIG_DIR)
DOMESTIC_ABUSE = {
    "reasons": ["domestic-abuse"],
    "risk": "medium",
    "subject__date_of_birth": "1990-05-01",
}


def referral(source: str, day: str, **changes: object) -> Referral:
    sub = ReferralSubmission.model_validate(example(**{**DOMESTIC_ABUSE, **changes}))
    return Referral(
        id=str(new_id()),
        source_org=source,
        received_at=f"{day}T10:00:00+00:00",
        local_authority=area_for(sub.subject.postcode),
        submission=sub,
    )


async def test_third_referral_of_one_person_by_different_agencies_meets_marac_repeat(
    sqlite_db: Database,
) -> None:
    key = b"pseudonym-key"
    chosen = []
    for source, day in (
        ("example-road-surgery", "2026-02-01"),
        ("uhb", "2026-06-01"),
        ("uhb", "2026-11-01"),
    ):
        async with unit_of_work(sqlite_db) as unit:
            d = await route(unit, DEMO, key, referral(source, day), f"event-{day}")
        assert d is not None
        chosen.append((d.matched_rules[0], sorted(r.intervention for r in d.recipients)))
    assert chosen[0] == ("domestic-abuse-support", ["gp-domestic-abuse-advocates"])
    assert chosen[1] == ("domestic-abuse-support", ["gp-domestic-abuse-advocates"])
    assert chosen[2] == (
        "repeat-domestic-abuse",
        ["gp-domestic-abuse-advocates", "marac-birmingham"],
    )


async def test_a_referral_a_year_later_is_not_a_repeat(sqlite_db: Database) -> None:
    key = b"pseudonym-key"
    rules = []
    for day in ("2024-01-01", "2024-06-01", "2026-11-01"):
        async with unit_of_work(sqlite_db) as unit:
            d = await route(unit, DEMO, key, referral("uhb", day), f"e-{day}")
        assert d is not None
        rules.append(d.matched_rules[0])
    assert rules[-1] == "domestic-abuse-support"


@pytest.mark.parametrize(("first_days_before", "repeat"), [(364, True), (365, True), (366, False)])
async def test_the_repeat_rule_counts_referrals_within_365_days_and_no_older(
    sqlite_db: Database, first_days_before: int, repeat: bool
) -> None:
    # The demo's MARAC rule: a third domestic-abuse referral within 365 days. The edges
    # matter: a referral exactly 365 days back still counts, one a day older does not.
    third = date(2026, 11, 1)
    days = [third - timedelta(days=first_days_before), third - timedelta(days=100), third]
    rules = []
    for day in days:
        async with unit_of_work(sqlite_db) as unit:
            d = await route(unit, DEMO, b"k", referral("uhb", day.isoformat()), f"e-{day}")
        assert d is not None
        rules.append(d.matched_rules[0])
    assert rules[:2] == ["domestic-abuse-support", "domestic-abuse-support"]
    assert rules[2] == ("repeat-domestic-abuse" if repeat else "domestic-abuse-support")


async def test_router_tables_keep_no_identifiers_in_clear(sqlite_db: Database) -> None:
    r = referral("uhb", "2026-11-01")
    async with unit_of_work(sqlite_db) as unit:
        await route(unit, DEMO, b"k", r, "e-1")
    async with sqlite_db.engine.connect() as conn:
        stored = [
            json.dumps([list(row) for row in await conn.execute(select(t))], default=str)
            for t in (decisions, subject_index, disclosures)
        ]
    s = r.submission.subject
    for value in (
        s.given_name,
        s.family_name,
        s.nhs_number,
        s.postcode,
        s.date_of_birth.isoformat(),
        r.submission.summary,
    ):
        assert value and all(value not in text for text in stored)
    assert "gp-domestic-abuse-advocates" in stored[0]  # the decision itself is kept
