"""What a partnership can now write: its own vocabularies, consent rules on interventions,
rule-level eligibility, granular contact items, and what the hub may read when held."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from testkit.partnerships import SEVERNSIDE
from testkit.referrals import example
from testkit.rules import COVENTRY, TODAY, base, config, facts, referral
from vrp.config_files import ConfigurationError, check_directory, load_configuration
from vrp.demo_configuration import is_demo_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Rejection
from vrp.domain.engine import decide, unknown_source
from vrp.domain.referral import ReferralSubmission
from vrp.domain.vocabulary import ConsentState, RiskLevel
from vrp.settings import DEMO_CONFIG_DIR, Settings


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    return target


# Vocabularies


def test_a_partnership_extends_replaces_and_removes_national_codes() -> None:
    c = config(
        vocabularies={
            "reasons": {"add": {"gun-injury": "Gunshot injury"}, "remove": ["mental-health"]},
            "decline_reasons": {"replace": {"waiting-list": "On our waiting list"}},
        }
    )
    assert c.codes.has("reasons", "gun-injury") and c.codes.has("reasons", "knife-crime")
    assert not c.codes.has("reasons", "mental-health")
    assert c.codes.by_api_name()["decline-reasons"] == {"waiting-list": "On our waiting list"}
    submission = ReferralSubmission.model_validate(example(reasons=["gun-injury", "mental-health"]))
    assert submission.check_codes(c.codes) == [
        ("reasons.1", "is not a code in the 'reasons' vocabulary (see GET /v1/vocabularies)")
    ]


def test_the_configuration_version_covers_the_vocabularies() -> None:
    relabelled = {"reasons": {"add": {"knife-crime": "Knife crime (our wording)"}}}
    assert config().version != config(vocabularies=relabelled).version


def test_removing_a_code_still_used_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    (directory / "vocabularies.yaml").write_text(
        "vocabularies:\n  reasons:\n    remove: [knife-crime]\n"
    )
    with pytest.raises(ConfigurationError) as raised:
        check_directory(directory, TODAY)
    text = (directory / "interventions.yaml").read_text().splitlines()
    line = next(n for n, t in enumerate(text, 1) if "reasons: [assault-injury" in t)
    assert (
        f"{directory / 'interventions.yaml'}:{line}: intervention 'navigators-birmingham': "
        "unknown reason 'knife-crime' (it was removed by vocabularies.reasons)"
    ) in raised.value.problems
    # The rule that matches on it is reported too.
    assert any(
        "rule 'ae-youth-violence': unknown reason 'knife-crime'" in p for p in raised.value.problems
    )


def test_a_code_stored_referrals_use_is_a_warning_naming_the_vocabulary(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    _, found = check_directory(directory, TODAY, {"reasons": {"machete-injury": 3}})
    [warning] = [w for w in found if "machete-injury" in w]
    assert warning.startswith(f"{directory / 'vocabularies.yaml'}:")
    assert warning.endswith(
        "reasons code 'machete-injury' is not in the vocabulary but 3 stored referral(s) use it"
    )


def test_a_risk_level_added_without_an_urgency_is_refused_and_relabelling_still_works() -> None:
    with pytest.raises(ValueError, match=r"risk level 'critical' needs an urgency"):
        config(vocabularies={"risk_levels": {"add": {"critical": "Critical"}}})
    c = config(vocabularies={"risk_levels": {"add": {"high": "High (MARAC threshold)"}}})
    assert c.codes.by_api_name()["risk-levels"]["high"] == "High (MARAC threshold)"
    assert c.codes.urgency_of("high") == "immediate"


# Consent


def test_both_the_interventions_and_the_flows_consent_rules_must_hold() -> None:
    # The flow permits prevent-serious-harm; the intervention only safeguarding-child.
    c = RoutingConfiguration.model_validate(_with_intervention_consent(["safeguarding-child"]))
    f = facts(consent=ConsentState.REFUSED, override_ground="prevent-serious-harm")
    [candidate] = decide(f, c, b"k").candidates
    assert [b.code for b in candidate.blocks] == [Rejection.CONSENT_REQUIRED]
    assert "the intervention permits safeguarding-child" in candidate.detail
    f = facts(consent=ConsentState.REFUSED, override_ground="safeguarding-child")
    [candidate] = decide(f, c, b"k").candidates
    assert [b.code for b in candidate.blocks] == [Rejection.CONSENT_MISSING]
    both = RoutingConfiguration.model_validate(_with_intervention_consent(["prevent-serious-harm"]))
    f = facts(consent=ConsentState.REFUSED, override_ground="prevent-serious-harm")
    assert decide(f, both, b"k").outcome == "routed"


def _with_intervention_consent(grounds: list[str]) -> dict[str, Any]:
    data = base()
    i = data["interventions"][0]
    del i["consent_required"]
    i["consent"] = {"required": True, "override_grounds": grounds}
    return data


def test_withdrawn_consent_is_reported_as_withdrawn() -> None:
    f = facts(consent=ConsentState.WITHDRAWN, override_ground="vital-interests")
    [candidate] = decide(f, config(), b"k").candidates
    assert candidate.detail.startswith(
        "consent withdrawn, override ground vital-interests, but flow ae-to-svc"
    )
    # With no override ground at all, no rule is tried: it is held for the hub.
    held = decide(facts(consent=ConsentState.WITHDRAWN, override_ground=None), config(), b"k")
    assert (held.outcome, held.candidates, held.hub_reasons) == ("held", [], ["consent-withdrawn"])


# Rule-level eligibility


def test_a_rule_widens_eligibility_and_the_decision_says_so() -> None:
    f = facts(risk=RiskLevel.STANDARD)
    assert decide(f, config(), b"k").candidates[0].rejection is Rejection.RISK
    widened = config(rules__0__eligibility={"risks": []})
    d = decide(f, widened, b"k")
    assert d.outcome == "routed"
    assert d.candidates[0].adjusted == ("risks: high, medium -> any",)
    assert "eligibility adjusted by the rule: risks: high, medium -> any" in d.explain()


def test_a_rule_narrows_eligibility() -> None:
    narrowed = config(rules__0__eligibility={"max_age": 15, "areas": [COVENTRY]})
    [candidate] = decide(facts(), narrowed, b"k").candidates
    assert [b.code for b in candidate.blocks] == [Rejection.AGE, Rejection.AREA]


# Granular items


def test_a_phone_only_flow_shares_the_phone_and_meets_a_required_contact() -> None:
    c = config(agreements__0__flows__0__items={"subject.name": "clear", "subject.phone": "clear"})
    r = referral(subject__contact={"phone": "07700 900123", "email": "alex@example.com"})
    d = decide(facts(), c, b"k", r)
    assert d.outcome == "routed"
    [recipient] = d.recipients
    assert recipient.payload == {
        "subject.name": {"given_name": "Alex", "family_name": "Fictional"},
        "subject.phone": "07700 900123",
    }


def test_an_agreement_written_with_subject_contact_keeps_sharing_both() -> None:
    r = referral(subject__contact={"phone": "07700 900123", "email": "alex@example.com"})
    [recipient] = decide(facts(), config(), b"k", r).recipients
    assert recipient.payload["subject.contact"] == {
        "phone": "07700 900123",
        "email": "alex@example.com",
    }


# What the hub reads


def test_without_a_hub_triage_flow_the_hub_reads_codes_only() -> None:
    d = decide(facts(age=40, area=COVENTRY), config(), b"k")
    assert d.held_reasons == [
        f"svc: ineligible-age (age 40 outside 11-25); ineligible-area (area {COVENTRY} not served)"
    ]
    assert d.hub is None and d.hub_reasons == ["svc: ineligible-age; ineligible-area"]


def test_the_hub_reads_age_bands_and_only_the_details_its_flow_permits() -> None:
    data = base()
    data["agreements"].append(
        {
            "id": "isa-hub",
            "version": 1,
            "title": "Hub triage",
            "status": "active",
            "valid_from": "2025-01-01",
            "parties": ["ae", "hub"],
            "flows": [
                {
                    "id": "to-hub",
                    "from_orgs": ["ae"],
                    "to_orgs": ["hub"],
                    "purposes": ["hub-triage"],
                    "art6_basis": "6(1)(e)",
                    "items": {"subject.date_of_birth": "age-band", "risk": "clear"},
                    "consent": {"required": False},
                }
            ],
        }
    )
    c = RoutingConfiguration.model_validate(data)
    f = facts(
        age=40,
        area=COVENTRY,
        risk=RiskLevel.STANDARD,
        consent=ConsentState.REFUSED,
        override_ground="vital-interests",
    )
    d = decide(f, c, b"k")
    assert d.hub is not None
    assert d.hub_reasons == [
        "svc: ineligible-age (age band 35-49 outside 11-25); ineligible-area; "
        "ineligible-risk (risk standard not accepted); consent-missing-no-permitted-override"
    ]
    assert "40" not in str(d.hub_reasons) and "vital-interests" not in str(d.hub_reasons)


def test_check_warns_about_paused_interventions_and_a_missing_hub_triage_flow(
    tmp_path: Path,
) -> None:
    directory = copy_demo(tmp_path)
    agreements = directory / "agreements.yaml"
    agreements.write_text(
        agreements.read_text().replace("purposes: [hub-triage]", "purposes: [other]")
    )
    _, found = check_directory(directory, date(2026, 11, 25))
    assert any(
        "intervention 'fire-youth-engagement' is paused: no referral reaches it" in w for w in found
    )
    assert any(
        "no active flow for purpose hub-triage to the hub 'wm-vru': held referrals reach "
        "the hub as ids and reason codes only" in w
        for w in found
    )


# Unknown senders and the demo


def test_a_sender_missing_from_the_configuration_is_held_for_the_hub() -> None:
    d = unknown_source("r-1", "gone-org", config())
    assert d.outcome == "held" and d.hub is None
    assert d.hub_reasons == ["gone-org: source-not-in-configuration"]


def test_only_the_packaged_demo_partnership_is_the_demo(tmp_path: Path) -> None:
    assert is_demo_configuration(load_configuration(DEMO_CONFIG_DIR))
    edited = copy_demo(tmp_path)
    rules = edited / "rules.yaml"
    rules.write_text(rules.read_text().replace("max_age: 25", "max_age: 24"))
    assert is_demo_configuration(Settings(config_dir=edited))  # rules edited: still the demo
    orgs = edited / "organisations.yaml"
    orgs.write_text(orgs.read_text().replace("West Midlands Police", "Northshire Police"))
    assert not is_demo_configuration(Settings(config_dir=edited))
    assert not is_demo_configuration(Settings(config_dir=SEVERNSIDE))
