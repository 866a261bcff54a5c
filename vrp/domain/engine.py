"""The routing engine: facts + configuration -> explainable, minimised decision. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from vrp.domain.configuration import (
    Intervention,
    Match,
    RoutingConfiguration,
    Rule,
)
from vrp.domain.decision import Candidate, Decision, Recipient, Rejection
from vrp.domain.facts import Facts
from vrp.domain.index import HUB_TRIAGE, ConfigIndex, FlowRef
from vrp.domain.minimise import minimise
from vrp.domain.referral import Referral
from vrp.domain.vocabulary import AgreementStatus, ConsentState

_STATUS_REJECTION = {
    AgreementStatus.DRAFT: Rejection.AGREEMENT_DRAFT,
    AgreementStatus.SUSPENDED: Rejection.AGREEMENT_SUSPENDED,
    AgreementStatus.EXPIRED: Rejection.AGREEMENT_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of assessing one candidate: a rejection, or the flow that permits it."""

    rejection: Rejection | None
    detail: str = ""
    lawful: FlowRef | None = None


def matches(when: Match, f: Facts) -> bool:
    """True when every condition the rule states holds for these facts."""
    if when.reasons_any and f.reasons.isdisjoint(when.reasons_any):
        return False
    if when.risks and f.risk not in when.risks:
        return False
    if when.min_age is not None and f.age < when.min_age:
        return False
    if when.max_age is not None and f.age > when.max_age:
        return False
    if when.areas and f.area not in when.areas:
        return False
    if when.source_kinds and f.source_kind not in when.source_kinds:
        return False
    if when.consent and f.consent not in when.consent:
        return False
    if when.repeat is not None:
        since = f.today - timedelta(days=when.repeat.within_days)
        recent = sum(1 for d in f.prior_referrals if since <= d <= f.today)
        if recent + 1 < when.repeat.at_least:
            return False
    return True


def _eligibility(i: Intervention, f: Facts) -> Verdict | None:
    e = i.eligibility
    if i.status == "paused":
        return Verdict(Rejection.PAUSED, "the intervention is paused")
    if not e.min_age <= f.age <= e.max_age:
        return Verdict(Rejection.AGE, f"age {f.age} outside {e.min_age}-{e.max_age}")
    if e.areas and f.area not in e.areas:
        return Verdict(Rejection.AREA, f"area {f.area or 'unknown'} not served")
    if e.reasons and f.reasons.isdisjoint(e.reasons):
        return Verdict(Rejection.REASON, "none of the referral reasons is accepted")
    if e.risks and f.risk not in e.risks:
        return Verdict(Rejection.RISK, f"risk {f.risk.value} not accepted")
    if i.capacity is not None and f.load.get(i.id, 0) >= i.capacity:
        return Verdict(Rejection.CAPACITY, f"{f.load.get(i.id, 0)} of {i.capacity} places taken")
    return None


def _agreement_problem(ref: FlowRef, today: date) -> Verdict | None:
    a = ref.agreement
    if a.status is not AgreementStatus.ACTIVE:
        return Verdict(_STATUS_REJECTION[a.status], f"{a.id} v{a.version} is {a.status.value}")
    if a.valid_to is not None and a.valid_to < today:
        return Verdict(Rejection.AGREEMENT_EXPIRED, f"{a.id} v{a.version} ended {a.valid_to}")
    if a.valid_from > today:
        return Verdict(
            Rejection.AGREEMENT_NOT_YET_VALID, f"{a.id} v{a.version} starts {a.valid_from}"
        )
    return None


def _flow_problem(ref: FlowRef, required: Sequence[str], f: Facts) -> Verdict | None:
    rule = ref.flow.consent
    consent_ok = f.consent is ConsentState.GIVEN or f.override_ground in rule.override_grounds
    if rule.required and not consent_ok:
        ground = f.override_ground or "none recorded"
        return Verdict(
            Rejection.CONSENT_MISSING,
            f"consent {f.consent.value}, override ground {ground}; flow {ref.flow.id} "
            f"permits {', '.join(rule.override_grounds) or 'no override'}",
        )
    missing = sorted(set(required) - ref.shared)
    if missing:
        return Verdict(
            Rejection.ITEM_NOT_PERMITTED, f"flow {ref.flow.id} does not permit {', '.join(missing)}"
        )
    return None


def lawful_flow(
    idx: ConfigIndex, f: Facts, target: str, purpose: str, required: Sequence[str]
) -> Verdict:
    """Deny by default: the first in-date, active flow that covers this sharing, or why none."""
    prohibition = idx.prohibited.get((f.source_org, target))
    if prohibition is not None:
        return Verdict(Rejection.PROHIBITED, prohibition)
    first_problem: Verdict | None = None
    for ref in idx.flows_for(f.source_org, target, purpose):
        problem = _agreement_problem(ref, f.today) or _flow_problem(ref, required, f)
        if problem is None:
            return Verdict(None, lawful=ref)
        first_problem = first_problem or problem
    return first_problem or Verdict(
        Rejection.NO_AGREEMENT, f"no flow {f.source_org} -> {target} for purpose {purpose}"
    )


def assess(idx: ConfigIndex, intervention_id: str, f: Facts) -> Verdict:
    """Eligibility first, then consent and the lawful basis for sharing with the provider."""
    i = idx.interventions.get(intervention_id)
    if i is None:
        return Verdict(Rejection.UNKNOWN, "not in the configuration")
    problem = _eligibility(i, f)
    if problem is not None:
        return problem
    if i.consent_required and f.consent is not ConsentState.GIVEN:
        return Verdict(Rejection.CONSENT_REQUIRED, "the intervention works only with consent")
    return lawful_flow(idx, f, i.provider, i.purpose, i.required_items)


def _narrowness(i: Intervention) -> tuple[int, int]:
    e = i.eligibility
    return (len(e.areas) or 1000, e.max_age - e.min_age)


def _select(rule: Rule, eligible: list[str], f: Facts, idx: ConfigIndex) -> list[str]:
    if not eligible or rule.select == "all":
        return eligible
    if rule.select == "first":
        return eligible[:1]
    if f.requested in eligible:
        return [f.requested]
    return [min(eligible, key=lambda x: _narrowness(idx.interventions[x]))]


FALLBACK = "fallback"
"""The rule name recorded for an offer to an escalation's fallback intervention."""


def decide(
    f: Facts, config: RoutingConfiguration, key: bytes, referral: Referral | None = None
) -> Decision:
    """Apply the rules in order; deny by default; explain every candidate.

    Payloads are minimised from `referral` when given; simulations pass only facts.
    """
    idx = config.index
    matched: list[str] = []
    candidates: list[Candidate] = []
    recipients: list[Recipient] = []
    chosen: set[str] = set()
    for rule in config.rules:
        if not matches(rule.when, f):
            continue
        matched.append(rule.id)
        verdicts = {x: assess(idx, x, f) for x in rule.interventions if x not in chosen}
        eligible = [x for x, v in verdicts.items() if v.rejection is None]
        selected = _select(rule, eligible, f, idx)
        for x, v in verdicts.items():
            if x in selected:
                candidates.append(
                    Candidate(intervention=x, rule=rule.id, chosen=True, rejection=None, detail="")
                )
                i = idx.interventions[x]
                recipients.append(_recipient(i.provider, x, v, f, key, referral))
                chosen.add(x)
            else:
                candidates.append(
                    Candidate(
                        intervention=x,
                        rule=rule.id,
                        chosen=False,
                        rejection=v.rejection or Rejection.NOT_SELECTED,
                        detail=v.detail,
                    )
                )
        if selected and rule.stop:
            break
    held: list[str] = []
    hub: Recipient | None = None
    if not recipients:
        held = [
            f"{c.intervention}: {c.rejection} ({c.detail})"
            if c.detail
            else f"{c.intervention}: {c.rejection}"
            for c in candidates
        ] or ["no rule matched"]
        v = lawful_flow(idx, f, idx.hub, HUB_TRIAGE, [])
        if v.lawful is not None:
            hub = _recipient(idx.hub, HUB_TRIAGE, v, f, key, referral)
    return Decision(
        referral_id=f.referral_id,
        config_version=idx.version,
        outcome="routed" if recipients else "held",
        matched_rules=matched,
        candidates=candidates,
        recipients=recipients,
        held_reasons=held,
        hub=hub,
    )


def offer(
    f: Facts, config: RoutingConfiguration, key: bytes, referral: Referral, intervention_id: str
) -> Decision:
    """Offer a referral to one named intervention (an escalation's fallback): no rules, but
    the same eligibility, consent and agreement checks, and a payload minimised afresh."""
    idx = config.index
    v = assess(idx, intervention_id, f)
    recipients: list[Recipient] = []
    held: list[str] = []
    if v.rejection is None:
        i = idx.interventions[intervention_id]
        recipients.append(_recipient(i.provider, intervention_id, v, f, key, referral))
    else:
        held.append(f"{intervention_id}: {v.rejection} ({v.detail})")
    return Decision(
        referral_id=f.referral_id,
        config_version=idx.version,
        outcome="routed" if recipients else "held",
        matched_rules=[],
        candidates=[
            Candidate(
                intervention=intervention_id,
                rule=FALLBACK,
                chosen=v.rejection is None,
                rejection=v.rejection,
                detail=v.detail,
            )
        ],
        recipients=recipients,
        held_reasons=held,
        hub=None,
    )


def _recipient(
    org: str, intervention: str, v: Verdict, f: Facts, key: bytes, referral: Referral | None
) -> Recipient:
    ref = v.lawful
    assert ref is not None
    payload = minimise(referral, ref.plan, f.today, key) if referral is not None else {}
    return Recipient(
        organisation=org,
        intervention=intervention,
        agreement_id=ref.agreement.id,
        agreement_version=ref.agreement.version,
        flow_id=ref.flow.id,
        items=ref.items,
        payload=payload,
    )
