"""The evidence pieces without a server: a referral's coded facts, `subject.sex` as a
minimised item, the first-contact rules, the console form's time, the history line, and the
backfill's reading of a timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.commands.backfill import offer_times
from services.intake.changes import CLOCK_SKEW, contact_to_record
from services.intake.console import data
from services.intake.console.history import Scope, describe
from services.intake.console.inbox import parse_contact
from testkit.referrals import example
from vrp.config_files import load_configuration
from vrp.domain.errors import Conflict, InvalidField
from vrp.domain.minimise import minimise
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.referral_facts import UNKNOWN_SOURCE, referral_facts
from vrp.domain.subjects import subject_pseudonym
from vrp.domain.vocabulary import DataItem, Treatment
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.offers import Copy
from vrp.store.referrals import Happened

KEY = b"test-key"
OFFERED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def referral(**changes: Any) -> Referral:
    return Referral(
        id="01a213be-199c-703e-b2b8-239618ae8fc2",
        source_org="uhb",
        received_at="2026-11-25T10:00:00+00:00",
        local_authority="E08000025",
        submission=ReferralSubmission.model_validate(example(**changes)),
    )


def test_the_facts_are_coded_with_age_on_the_day_and_the_first_reason_primary() -> None:
    r = referral(
        subject__sex="not-known",
        subject__date_of_birth="2010-03-14",
        reasons=["weapon-carrying", "assault-injury", "weapon-carrying"],
    )
    eve = datetime(2026, 3, 13, 23, 59, tzinfo=UTC)
    facts = referral_facts(r, "nhs-trust", eve, KEY)
    assert facts.age == 15  # the day before the 16th birthday
    assert referral_facts(r, "nhs-trust", eve + timedelta(minutes=1), KEY).age == 16
    assert facts.month == "2026-03" and facts.referred_at == eve
    assert facts.reason == "weapon-carrying"
    assert facts.reasons == "assault-injury weapon-carrying"
    assert facts.sex == "not-known" and facts.local_authority == "E08000025"
    assert facts.pseudonym == subject_pseudonym(KEY, r)
    assert set(facts.row()) == {
        "referral_id",
        "referred_at",
        "month",
        "source_kind",
        "local_authority",
        "age",
        "sex",
        "reason",
        "reasons",
        "pseudonym",
    }


def test_the_pseudonym_is_the_routers_by_name_and_birth_date_without_an_nhs_number() -> None:
    a = referral(subject__nhs_number=None)
    b = referral(subject__nhs_number=None, subject__given_name="ALEX ")
    other = referral(subject__nhs_number=None, subject__date_of_birth="2010-03-15")
    at = datetime(2026, 11, 25, tzinfo=UTC)
    facts = [referral_facts(r, None, at, KEY) for r in (a, b, other)]
    assert facts[0].pseudonym == facts[1].pseudonym != facts[2].pseudonym
    assert facts[0].source_kind == UNKNOWN_SOURCE
    assert facts[0].sex is None
    assert referral_facts(a, None, at, b"another key").pseudonym != facts[0].pseudonym


def test_sex_is_one_of_four_codes_and_optional() -> None:
    for code in ("female", "male", "indeterminate", "not-known"):
        assert ReferralSubmission.model_validate(example(subject__sex=code)).subject.sex == code
    assert ReferralSubmission.model_validate(example()).subject.sex is None
    with pytest.raises(ValidationError, match=r"subject\.sex"):
        ReferralSubmission.model_validate(example(subject__sex="F"))


def test_sex_is_shared_only_where_the_flow_permits_it() -> None:
    r = referral(subject__sex="female")
    plan = [(DataItem.SUBJECT_NAME, Treatment.CLEAR)]
    today = date(2026, 11, 25)
    assert "subject.sex" not in minimise(r, plan, today, KEY)
    shared = minimise(r, [*plan, (DataItem.SUBJECT_SEX, Treatment.CLEAR)], today, KEY)
    assert shared["subject.sex"] == "female"
    hidden = minimise(r, [(DataItem.SUBJECT_SEX, Treatment.PSEUDONYMISE)], today, KEY)
    assert hidden["subject.sex"] not in ("female", "")
    assert minimise(referral(), [(DataItem.SUBJECT_SEX, Treatment.CLEAR)], today, KEY) == {}
    assert data.rows({"subject.sex": "indeterminate"}) == [
        ("Sex", "Indeterminate (unable to be classified as either)")
    ]


def test_the_demo_agreements_decide_who_receives_sex() -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    receiving = sorted(
        f.id
        for a in config.agreements
        if a.status == "active"
        for f in a.flows
        if f.items.get(DataItem.SUBJECT_SEX, Treatment.OMIT) is not Treatment.OMIT
    )
    assert receiving == ["ae-to-navigators", "gp-to-advocates", "partners-to-marac"]


def copy(first_contact_at: datetime | None = None) -> Copy:
    return Copy(
        referral_id="r",
        intervention="navigators-birmingham",
        organisation="navigators",
        reference="VRP-1",
        event_id="e",
        payload={},
        status="accepted",
        reason=None,
        outcome=None,
        received_at=OFFERED,
        updated_at=OFFERED,
        reduced_at=None,
        kind="offer",
        accepted_at=OFFERED,
        first_contact_at=first_contact_at,
        closed_at=None,
    )


def test_first_contact_is_not_in_the_future_nor_before_the_offer_and_recorded_once() -> None:
    now = OFFERED + timedelta(days=2)
    field = "accepted.first_contact_at"
    assert contact_to_record(copy(), None, now, field) is None
    assert contact_to_record(copy(), OFFERED, now, field) == OFFERED  # the offer's own moment
    assert contact_to_record(copy(), now + CLOCK_SKEW, now, field) == now + CLOCK_SKEW
    with pytest.raises(InvalidField, match="is in the future") as future:
        contact_to_record(copy(), now + CLOCK_SKEW + timedelta(seconds=1), now, field)
    assert future.value.field == field
    with pytest.raises(InvalidField, match="before the referral was offered"):
        contact_to_record(copy(), OFFERED - timedelta(seconds=1), now, field)
    recorded = OFFERED + timedelta(hours=3)
    assert contact_to_record(copy(recorded), recorded, now, field) is None  # a repeat
    with pytest.raises(Conflict, match="already recorded"):
        contact_to_record(copy(recorded), recorded + timedelta(minutes=1), now, field)


def test_the_console_form_reads_a_date_and_a_utc_time() -> None:
    assert parse_contact("2026-12-07", "9:05") == datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
    assert parse_contact(" 2026-12-07 ", "14:30") == datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    for day, clock in (
        ("07/12/2026", "09:00"),
        ("2026-02-30", "09:00"),
        ("2026-12-07", "25:00"),
        ("2026-12-07", "0900"),
        ("", ""),
        ("\u0662\u0660\u0662\u0666-12-07", "09:00"),  # Arabic-Indic digits
    ):
        assert parse_contact(day, clock) is None, (day, clock)


def test_the_history_says_when_first_contact_was_made_and_who_recorded_it() -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    detail = {
        "organisation": "navigators",
        "intervention": "navigators-birmingham",
        "first_contact_at": "2026-11-26T09:30:00+00:00",
    }
    entry = Happened("e", "first-contact", OFFERED + timedelta(days=2), detail)
    [line] = describe(config, [entry], [], Scope("navigators"))
    assert line.text.startswith("First contact with the person on 26 Nov 2026 09:30 UTC")
    assert "recorded by" in line.text and line.at == entry.at
    assert describe(config, [entry], [], Scope("safe-homes")) == []  # another team's


def test_the_backfill_reads_each_offers_first_acceptance_and_closing() -> None:
    t = [OFFERED + timedelta(hours=h) for h in range(5)]
    nav = {"intervention": "navigators-birmingham"}
    entries = [
        ("a", "accepted", t[1], nav),
        ("a", "accepted", t[2], nav),  # a repeat later is not the acceptance
        ("a", "completed", t[3], nav),
        ("b", "declined", t[1], {"intervention": "marac-birmingham"}),
        ("c", "accepted", t[4], {}),  # no intervention named: left alone
    ]
    assert offer_times(entries) == {
        ("a", "navigators-birmingham"): (t[1], t[3]),
        ("b", "marac-birmingham"): (None, t[1]),
    }
