"""A small partnership for the rules engine's tests: its raw configuration, the facts of a
referral it routes, and the two areas and the day they are decided on."""

from __future__ import annotations

from datetime import date
from typing import Any

from testkit.referrals import example
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.facts import Facts
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import ConsentState, OrgKind, RiskLevel

TODAY = date(2026, 11, 25)
BIRMINGHAM, COVENTRY = "E08000025", "E08000026"


def base() -> dict[str, Any]:
    """A small partnership (A&E, a charity, the hub; one intervention, agreement and rule)
    as the raw configuration, for a test to change before validating it."""
    flow = {
        "id": "ae-to-svc",
        "from_orgs": ["ae"],
        "to_orgs": ["charity"],
        "purposes": ["support"],
        "art6_basis": "6(1)(e)",
        "items": {"subject.name": "clear", "subject.contact": "clear"},
        "consent": {"required": True, "override_grounds": ["prevent-serious-harm"]},
    }
    return {
        "hub": "hub",
        "organisations": [
            {"id": "ae", "name": "A&E", "kind": "nhs-trust"},
            {"id": "charity", "name": "Charity", "kind": "charity"},
            {"id": "hub", "name": "Hub", "kind": "vru-hub"},
        ],
        "interventions": [
            {
                "id": "svc",
                "provider": "charity",
                "title": "Service",
                "purpose": "support",
                "eligibility": {
                    "min_age": 11,
                    "max_age": 25,
                    "areas": [BIRMINGHAM],
                    "reasons": ["knife-crime"],
                    "risks": ["high", "medium"],
                },
                "consent_required": False,
                "capacity": 10,
                "required_items": ["subject.name", "subject.contact"],
            }
        ],
        "agreements": [
            {
                "id": "isa",
                "version": 1,
                "title": "ISA",
                "status": "active",
                "valid_from": "2025-01-01",
                "valid_to": "2027-12-31",
                "parties": ["ae", "charity"],
                "flows": [flow],
            }
        ],
        "rules": [
            {
                "id": "r1",
                "description": "knife crime",
                "when": {"reasons_any": ["knife-crime", "assault-injury"]},
                "interventions": ["svc"],
            }
        ],
    }


def facts(**changes: Any) -> Facts:
    """What the engine knows of a referral that the base configuration routes, changed."""
    values: dict[str, Any] = {
        "referral_id": "r-1",
        "source_org": "ae",
        "source_kind": OrgKind.NHS_TRUST,
        "reasons": frozenset({"knife-crime"}),
        "risk": RiskLevel.HIGH,
        "age": 16,
        "area": BIRMINGHAM,
        "consent": ConsentState.GIVEN,
        "override_ground": None,
        "requested": None,
        "today": TODAY,
        "load": {},
    }
    values.update(changes)
    return Facts(**values)


def config(**changes: Any) -> RoutingConfiguration:
    """The base configuration, with top-level sections replaced or dotted paths changed."""
    data = base()
    for path, value in changes.items():
        target: Any = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return RoutingConfiguration.model_validate(data)


def referral(**changes: Any) -> Referral:
    """The example referral from A&E in Birmingham, changed."""
    return Referral(
        id="r-1",
        source_org="ae",
        received_at="2026-11-25T10:00:00+00:00",
        local_authority=BIRMINGHAM,
        submission=ReferralSubmission.model_validate(example(**changes)),
    )
