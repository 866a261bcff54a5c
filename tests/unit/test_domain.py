"""The pure domain: identifiers, validation, and the engine on the demo configuration."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from testkit.referrals import example
from vrp.config_files import load_configuration
from vrp.domain.decision import Rejection
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.geography import area_for, normalise_postcode
from vrp.domain.identifiers import nhs_number_is_valid
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import OrgKind
from vrp.settings import DEMO_CONFIG_DIR

CONFIG = load_configuration(DEMO_CONFIG_DIR)
KEY = b"test-key"
TODAY = date(2026, 11, 25)


def referral(source: str = "uhb", **changes: object) -> Referral:
    sub = ReferralSubmission.model_validate(example(**changes))
    return Referral(
        id="01a213be-199c-703e-b2b8-239618ae8fc2",
        source_org=source,
        received_at="2026-11-25T10:00:00+00:00",
        local_authority=area_for(sub.subject.postcode),
        submission=sub,
    )


def facts(r: Referral) -> Facts:
    org = CONFIG.organisation(r.source_org)
    assert org is not None
    return Facts.of(r, org.kind, TODAY)


@pytest.mark.parametrize(
    ("number", "valid"),
    [("9434765919", True), ("9434765918", False), ("943476591", False), ("abcdefghij", False)],
)
def test_nhs_number_check_digit(number: str, valid: bool) -> None:
    assert nhs_number_is_valid(number) is valid


def test_postcode_is_normalised_and_mapped_to_its_area() -> None:
    assert normalise_postcode(" b10 0aa ") == "B10 0AA"
    assert area_for("B10 0AA") == "E08000025"
    assert area_for("CV1 2AB") == "E08000026"
    assert normalise_postcode("NOT A POSTCODE") is None


def test_consent_refused_without_override_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        ReferralSubmission.model_validate(example(consent={"state": "not-sought"}))
    assert "consent" in str(err.value.errors()[0]["loc"])
    # Refused (or withdrawn): the configuration decides (consent.refused), by default refuse.
    refused = ReferralSubmission.model_validate(example(consent={"state": "refused"}))
    [(field, message)] = refused.check_consent("refuse")
    assert field == "consent" and message.startswith("consent.override is required")
    assert refused.check_consent("hold-for-hub") == []


def test_a_and_e_referral_goes_to_local_navigators_with_minimised_data() -> None:
    d = decide(facts(referral()), CONFIG, KEY, referral())
    assert d.outcome == "routed"
    [r] = d.recipients
    assert (r.organisation, r.intervention) == ("navigators", "navigators-birmingham")
    assert (r.agreement_id, r.agreement_version) == ("isa-ae-navigators", 2)
    assert "subject.nhs_number" not in r.payload
    assert r.payload["subject.date_of_birth"] == "16-17"
    assert "subject.postcode" not in r.payload


def test_expired_agreement_holds_the_referral_with_the_reason() -> None:
    d = decide(facts(referral(source="uhcw", subject__postcode="CV1 2AB")), CONFIG, KEY)
    assert d.outcome == "held"
    rejected = {c.intervention: c.rejection for c in d.candidates}
    assert rejected["navigators-coventry"] is Rejection.AGREEMENT_EXPIRED


def test_decision_records_the_configuration_version() -> None:
    d = decide(facts(referral()), CONFIG, KEY)
    assert d.config_version == CONFIG.version and len(CONFIG.version) == 16
    assert CONFIG.organisation("uhb").kind == OrgKind.NHS_TRUST  # type: ignore[union-attr]
