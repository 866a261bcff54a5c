"""Every rejection reason, shown with the explanation a hub coordinator would read."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from testkit.rules import COVENTRY, base, facts
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Rejection
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.vocabulary import ConsentState, RiskLevel


def change(path: str, value: Any) -> dict[str, Any]:
    config = base()
    target: Any = config
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    target[keys[-1]] = value
    return config


CASES = [
    (
        "paused",
        change("interventions.0.status", "paused"),
        facts(),
        Rejection.PAUSED,
        "the intervention is paused",
    ),
    ("too old", base(), facts(age=30), Rejection.AGE, "age 30 outside 11-25"),
    ("wrong area", base(), facts(area=COVENTRY), Rejection.AREA, f"area {COVENTRY} not served"),
    (
        "unknown area",
        base(),
        facts(area=None),
        Rejection.AREA,
        "area unknown: the postcode is not in the geography table and the referral gave no "
        "subject.local_authority",
    ),
    (
        "reason not taken",
        base(),
        facts(reasons=frozenset({"assault-injury"})),
        Rejection.REASON,
        "none of the referral reasons is accepted",
    ),
    (
        "risk not taken",
        base(),
        facts(risk=RiskLevel.STANDARD),
        Rejection.RISK,
        "risk standard not accepted",
    ),
    ("full", base(), facts(load={"svc": 10}), Rejection.CAPACITY, "10 of 10 places taken"),
    (
        "no flow",
        change("agreements.0.flows.0.purposes", ["other"]),
        facts(),
        Rejection.NO_AGREEMENT,
        "no flow ae -> charity for purpose support",
    ),
    (
        "prohibited",
        change(
            "agreements.0.prohibitions",
            [{"from_orgs": ["ae"], "to_orgs": ["charity"], "reason": "court order"}],
        ),
        facts(),
        Rejection.PROHIBITED,
        "isa: court order",
    ),
    (
        "draft",
        change("agreements.0.status", "draft"),
        facts(),
        Rejection.AGREEMENT_DRAFT,
        "isa v1 is draft",
    ),
    (
        "suspended",
        change("agreements.0.status", "suspended"),
        facts(),
        Rejection.AGREEMENT_SUSPENDED,
        "isa v1 is suspended",
    ),
    (
        "lapsed",
        change("agreements.0.valid_to", "2026-01-31"),
        facts(),
        Rejection.AGREEMENT_EXPIRED,
        "isa v1 ended 2026-01-31",
    ),
    (
        "not yet",
        change("agreements.0.valid_from", "2027-01-01"),
        facts(),
        Rejection.AGREEMENT_NOT_YET_VALID,
        "isa v1 starts 2027-01-01",
    ),
    (
        "needs consent",
        change("interventions.0.consent_required", True),
        facts(consent=ConsentState.REFUSED, override_ground="prevent-serious-harm"),
        Rejection.CONSENT_REQUIRED,
        "consent refused, override ground prevent-serious-harm, but the intervention permits "
        "no override",
    ),
    (
        "override ground not permitted",
        base(),
        facts(consent=ConsentState.NOT_SOUGHT, override_ground="prevent-detect-crime"),
        Rejection.CONSENT_MISSING,
        "consent not-sought, override ground prevent-detect-crime, but flow ae-to-svc permits "
        "prevent-serious-harm",
    ),
    (
        "item not permitted",
        change("agreements.0.flows.0.items", {"subject.name": "clear", "subject.contact": "omit"}),
        facts(),
        Rejection.ITEM_NOT_PERMITTED,
        "flow ae-to-svc does not permit subject.contact",
    ),
]


@pytest.mark.parametrize(
    ("config", "f", "rejection", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rejection_is_explained(
    config: dict[str, Any], f: Facts, rejection: Rejection, detail: str
) -> None:
    d = decide(f, RoutingConfiguration.model_validate(config), b"k")
    assert d.outcome == "held"
    [candidate] = d.candidates
    assert candidate.rejection is rejection
    assert candidate.detail == detail
    assert f"svc (rule r1): rejected: {rejection} {detail}" in d.explain()
    assert d.held_reasons == [f"svc: {rejection} ({detail})"]


def test_override_on_a_permitted_ground_routes_and_says_which_flow() -> None:
    config = RoutingConfiguration.model_validate(base())
    d = decide(
        facts(consent=ConsentState.REFUSED, override_ground="prevent-serious-harm"), config, b"k"
    )
    assert d.outcome == "routed"
    assert "-> charity via isa v1 flow ae-to-svc; items: subject.contact, subject.name" in (
        d.explain()
    )


def test_first_selects_one_and_explains_the_others_as_not_selected() -> None:
    config = base()
    second = dict(config["interventions"][0], id="svc2")
    config["interventions"].append(second)
    config["rules"][0]["interventions"] = ["svc", "svc2"]
    d = decide(facts(), RoutingConfiguration.model_validate(config), b"k")
    assert [(c.intervention, c.chosen, c.rejection) for c in d.candidates] == [
        ("svc", True, None),
        ("svc2", False, Rejection.NOT_SELECTED),
    ]


def test_repeat_rule_fires_on_the_third_referral_within_the_window() -> None:
    config = base()
    config["rules"][0]["when"]["repeat"] = {"at_least": 3, "within_days": 365}
    c = RoutingConfiguration.model_validate(config)
    once = facts(prior_referrals=(date(2026, 3, 1),))
    twice = facts(prior_referrals=(date(2026, 3, 1), date(2026, 9, 1)))
    stale = facts(prior_referrals=(date(2024, 3, 1), date(2026, 9, 1)))
    assert decide(once, c, b"k").matched_rules == []
    assert decide(twice, c, b"k").matched_rules == ["r1"]
    assert decide(stale, c, b"k").matched_rules == []


def test_no_rule_matched_is_held_with_that_reason() -> None:
    d = decide(
        facts(reasons=frozenset({"prison-release"})),
        RoutingConfiguration.model_validate(base()),
        b"k",
    )
    assert d.held_reasons == ["no rule matched"]
    assert "hub notified with ids and reason codes only" in d.explain()
