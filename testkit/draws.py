"""Hypothesis draws of partnerships, referrals and facts for the rules and agreement engine's
property tests, and the check that re-derives lawfulness from the raw configuration."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from vrp.config_files import load_configuration
from vrp.domain.configuration import Agreement, AgreementStatus, RoutingConfiguration
from vrp.domain.decision import Decision, Recipient
from vrp.domain.facts import Facts
from vrp.domain.geography import DISTRICTS, area_for
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import (
    OVERRIDE_GROUNDS,
    REASONS,
    ConsentState,
    DataItem,
    OrgKind,
    RiskLevel,
    Treatment,
)
from vrp.settings import DEMO_CONFIG_DIR

DEMO = load_configuration(DEMO_CONFIG_DIR)
TODAY = date(2026, 11, 25)
KEY = b"property-test-key"
# 300 examples per property; deploy/test.sh --fast runs fewer (VRP_PROPERTY_EXAMPLES).
EXAMPLES = int(os.environ.get("VRP_PROPERTY_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

postcodes = st.sampled_from([f"{d} 1AA" for d in sorted(DISTRICTS)] + ["SW1A 1AA", "M1 1AE"])


def _routable_targets() -> list[tuple[str, str, Any]]:
    """(rule, source organisation, intervention) triples some demo flow could allow."""
    out = []
    for rule in DEMO.rules:
        for x in rule.interventions:
            i = DEMO.intervention(x)
            assert i is not None
            for a in DEMO.agreements:
                for f in a.flows:
                    if i.provider in f.to_orgs and i.purpose in f.purposes:
                        out += [
                            (rule.id, src, i)
                            for src in f.from_orgs
                            if not rule.when.source_kinds or _kind(src) in rule.when.source_kinds
                        ]
    return out


def _kind(organisation: str) -> OrgKind:
    org = DEMO.organisation(organisation)
    assert org is not None, organisation
    return org.kind


TARGETS = _routable_targets()


@st.composite
def routable(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A source organisation and changes that make the referral fit a rule and intervention."""
    rule_id, source, i = draw(st.sampled_from(TARGETS))
    rule = next(r for r in DEMO.rules if r.id == rule_id)
    lo = max(i.eligibility.min_age, rule.when.min_age or 0, 5)
    hi = min(i.eligibility.max_age, rule.when.max_age or 130, 90)
    reasons = set(rule.when.reasons_any or REASONS) & set(i.eligibility.reasons or REASONS)
    areas = i.eligibility.areas or rule.when.areas or sorted(set(DISTRICTS.values()))
    area = draw(st.sampled_from(sorted(areas)))
    district = draw(st.sampled_from(sorted(d for d, a in DISTRICTS.items() if a == area)))
    risks = [
        r
        for r in RiskLevel
        if (not rule.when.risks or r in rule.when.risks)
        and (not i.eligibility.risks or r in i.eligibility.risks)
    ]
    return source, {
        "age": draw(st.integers(lo, max(lo, hi))) if lo <= hi else lo,
        "reasons": [draw(st.sampled_from(sorted(reasons or REASONS)))],
        "postcode": f"{district} 1AA",
        "risk": draw(st.sampled_from(risks or list(RiskLevel))).value,
    }


# Mostly given, so that routing is exercised often.
CONSENT_STATES = st.sampled_from([ConsentState.GIVEN] * 3 + list(ConsentState))


@st.composite
def submissions(
    draw: st.DrawFn,
    fit: dict[str, Any] | None = None,
    states: st.SearchStrategy[ConsentState] = CONSENT_STATES,
) -> ReferralSubmission:
    # Biased towards referrals that some rule can route, so routing is exercised often.
    state = draw(states)
    override = None
    if state is not ConsentState.GIVEN or draw(st.booleans()):
        override = {
            "ground": draw(st.sampled_from(sorted(OVERRIDE_GROUNDS))),
            "legal_condition": "DPA 2018 Sch 1 para 18",
            "justification": "risk of harm",
            "decision_maker": "Named safeguarding lead",
        }
    age_days = draw(st.one_of(st.integers(11 * 365, 30 * 365), st.integers(5 * 365, 80 * 365)))
    body: dict[str, Any] = {
        "referrer": {
            "name": "Sam Example",
            "role": "Nurse",
            "contact": {"email": "sam@uhb.example"},
        },
        "subject": {
            "given_name": "Alex",
            "family_name": "Fictional",
            "date_of_birth": (TODAY - timedelta(days=age_days)).isoformat(),
            "nhs_number": draw(st.sampled_from([None, "9434765919"])),
            "postcode": draw(postcodes),
            "contact": draw(st.sampled_from([None, {"phone": "07700 900123"}])),
        },
        "reasons": sorted(
            {
                draw(st.sampled_from([r for rule in DEMO.rules for r in rule.when.reasons_any])),
                *draw(st.lists(st.sampled_from(sorted(REASONS)), max_size=2)),
            }
        ),
        "risk": draw(st.sampled_from(list(RiskLevel))).value,
        "consent": {"state": state.value, "override": override},
        "summary": "Fictional summary.",
        "requested_intervention": draw(
            st.sampled_from([None, *(i.id for i in DEMO.interventions)])
        ),
    }
    if fit is not None:
        body["subject"]["date_of_birth"] = (
            TODAY - timedelta(days=fit["age"] * 365 + 100)
        ).isoformat()
        body["subject"]["postcode"] = fit["postcode"]
        body["reasons"] = fit["reasons"]
        body["risk"] = fit["risk"]
    return ReferralSubmission.model_validate(body)


@st.composite
def referrals(
    draw: st.DrawFn,
    config: RoutingConfiguration,
    states: st.SearchStrategy[ConsentState] = CONSENT_STATES,
) -> Referral:
    if draw(st.booleans()):
        source, fit = draw(routable())
        sub = draw(submissions(fit, states))
    else:
        source = draw(st.sampled_from([o.id for o in config.organisations]))
        sub = draw(submissions(states=states))
    return Referral(
        id="01a213be-199c-703e-b2b8-239618ae8fc2",
        source_org=source,
        received_at=f"{TODAY.isoformat()}T09:00:00+00:00",
        local_authority=area_for(sub.subject.postcode),
        submission=sub,
    )


@st.composite
def configurations(draw: st.DrawFn, consent_everywhere: bool = False) -> RoutingConfiguration:
    """The demo configuration with agreements, flows and capacities perturbed.

    With `consent_everywhere`, every flow requires consent and accepts overrides only on
    grounds from one subset of them, which leaves out at least one ground."""
    data = DEMO.model_dump(mode="json")
    strict: st.SearchStrategy[dict[str, Any]] | None = None
    if consent_everywhere:
        grounds = sorted(OVERRIDE_GROUNDS)
        allowed = draw(st.lists(st.sampled_from(grounds), unique=True, max_size=len(grounds) - 1))
        strict = st.fixed_dictionaries(
            {
                "required": st.just(True),
                "override_grounds": st.lists(st.sampled_from(allowed), unique=True)
                if allowed
                else st.just([]),
            }
        )
    treatments = st.sampled_from([Treatment.CLEAR, Treatment.OMIT, Treatment.PSEUDONYMISE])
    for a in data["agreements"]:
        if draw(st.integers(0, 3)) == 0:
            a["status"] = draw(st.sampled_from(list(AgreementStatus))).value
        if draw(st.integers(0, 3)) == 0:
            a["valid_to"] = (TODAY - timedelta(days=draw(st.integers(-400, 400)))).isoformat()
        for f in a["flows"]:
            items = dict(f["items"])
            for item in draw(st.lists(st.sampled_from(list(DataItem)), unique=True, max_size=4)):
                if item is DataItem.SUBJECT_DATE_OF_BIRTH and draw(st.booleans()):
                    items[item.value] = Treatment.AGE_BAND.value
                else:
                    items[item.value] = draw(treatments).value
            f["items"] = items
            if strict is not None:
                f["consent"] = draw(strict)
            elif draw(st.booleans()):
                f["consent"] = {
                    "required": draw(st.booleans()),
                    "override_grounds": draw(
                        st.lists(st.sampled_from(sorted(OVERRIDE_GROUNDS)), unique=True)
                    ),
                }
    for i in data["interventions"]:
        i["capacity"] = draw(st.sampled_from([None, None, 0, 1, 5]))
        i["consent"] = {"required": draw(st.booleans())}
    return RoutingConfiguration.model_validate(data)


def facts_of(referral: Referral, config: RoutingConfiguration, load: dict[str, int]) -> Facts:
    org = config.organisation(referral.source_org)
    assert org is not None
    return Facts.of(referral, org.kind, TODAY, load=load)


def newest(config: RoutingConfiguration, agreement_id: str) -> Agreement:
    return max((a for a in config.agreements if a.id == agreement_id), key=lambda a: a.version)


def all_recipients(d: Decision) -> list[Recipient]:
    return [*d.recipients, *([d.hub] if d.hub is not None else [])]


def check_lawful(config: RoutingConfiguration, referral: Referral, d: Decision) -> None:
    for r in all_recipients(d):
        a = newest(config, r.agreement_id)
        assert a.version == r.agreement_version, "only the newest agreement version counts"
        assert a.status is AgreementStatus.ACTIVE
        assert a.valid_from <= TODAY and (a.valid_to is None or a.valid_to >= TODAY)
        [flow] = [f for f in a.flows if f.id == r.flow_id]
        assert referral.source_org in flow.from_orgs and r.organisation in flow.to_orgs
        if r.intervention == "hub-triage":
            purpose = "hub-triage"
        else:
            intervention = config.intervention(r.intervention)
            assert intervention is not None, r.intervention
            purpose = intervention.purpose
        assert purpose in flow.purposes
        for other in config.agreements:
            if (
                other.status is not AgreementStatus.DRAFT
                and other.version == newest(config, other.id).version
            ):
                for p in other.prohibitions:
                    assert not (referral.source_org in p.from_orgs and r.organisation in p.to_orgs)
        permitted = {i.value for i, t in flow.items.items() if t is not Treatment.OMIT}
        assert set(r.payload) <= permitted, "an item the flow does not permit was shared"
        for item, value in r.payload.items():
            treatment = flow.items[DataItem(item)]
            if treatment is Treatment.PSEUDONYMISE:
                assert re.fullmatch(r"[0-9a-f]{32}", value)
            if treatment is Treatment.AGE_BAND:
                assert re.fullmatch(r"\d+-\d+|65\+", value)
        consent = referral.submission.consent
        if consent.state is not ConsentState.GIVEN and flow.consent.required:
            assert consent.override is not None
            assert consent.override.ground in flow.consent.override_grounds
