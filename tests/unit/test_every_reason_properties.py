"""Property: every blocking reason a candidate has is reported, in a stable order, in the
decision, its explanation and the held reasons (referrals failing 2-3 checks at once)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from testkit.rules import COVENTRY, base, facts
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Rejection
from vrp.domain.engine import decide, unknown_source
from vrp.domain.vocabulary import ConsentState, RiskLevel
from vrp.metrics import reason_codes

CONFIG = RoutingConfiguration.model_validate(base())
EXAMPLES = int(os.environ.get("VRP_PROPERTY_EXAMPLES", "300"))

# Each check the base configuration's one intervention makes, in the engine's order, with
# facts that fail it (and only it): eligibility, capacity, then the agreement flow.
FAILURES: list[tuple[Rejection, dict[str, Any]]] = [
    (Rejection.AGE, {"age": 40}),
    (Rejection.AREA, {"area": COVENTRY}),
    (Rejection.REASON, {"reasons": frozenset({"assault-injury"})}),
    (Rejection.RISK, {"risk": RiskLevel.STANDARD}),
    (Rejection.CAPACITY, {"load": {"svc": 10}}),
    (
        Rejection.CONSENT_MISSING,
        {"consent": ConsentState.REFUSED, "override_ground": "prevent-detect-crime"},
    ),
]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(failing=st.lists(st.sampled_from(range(len(FAILURES))), min_size=2, max_size=3, unique=True))
def test_every_blocking_reason_is_reported_in_a_stable_order(failing: list[int]) -> None:
    changes: dict[str, Any] = {}
    for n in failing:
        changes |= FAILURES[n][1]
    expected = [FAILURES[n][0] for n in sorted(failing)]
    event(f"{len(failing)} checks failing")
    d = decide(facts(**changes), CONFIG, b"k")
    assert d.outcome == "held"
    [candidate] = d.candidates
    assert [b.code for b in candidate.blocks] == expected
    assert candidate.rejection is expected[0]
    [held] = d.held_reasons
    assert held.startswith("svc: ")
    assert [part.split(" ")[0] for part in held.removeprefix("svc: ").split("; ")] == [
        str(code) for code in expected
    ]
    explained = d.explain()
    assert f"rejected for {len(expected)} reasons" in explained
    assert all(f"- {code}" in explained for code in expected)
    assert d.to_json()["candidates"][0]["blocks"] == [
        {"code": str(b.code), "detail": b.detail} for b in candidate.blocks
    ]
    # Without a hub-triage flow the hub reads the same codes, and no detail.
    assert d.hub_reasons == ["svc: " + "; ".join(str(code) for code in expected)]


def test_the_held_metric_counts_every_reason_and_an_unknown_sender() -> None:
    d = decide(facts(age=40, area=COVENTRY), CONFIG, b"k")
    assert reason_codes(d) == ["ineligible-age", "ineligible-area"]
    assert reason_codes(unknown_source("r-1", "gone-org", CONFIG)) == [
        "source-not-in-configuration"
    ]
