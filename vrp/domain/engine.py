"""The routing engine: referral + configuration -> explainable, minimised decision. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from vrp.domain.configuration import (
    Agreement,
    AgreementStatus,
    Flow,
    Intervention,
    Match,
    RoutingConfiguration,
    Rule,
)
from vrp.domain.decision import Candidate, Decision, Recipient, Rejection
from vrp.domain.minimise import minimise, shared_items
from vrp.domain.referral import Referral, age_on
from vrp.domain.vocabulary import ConsentState, OrgKind

_STATUS_REJECTION = {
    AgreementStatus.DRAFT: Rejection.AGREEMENT_DRAFT,
    AgreementStatus.SUSPENDED: Rejection.AGREEMENT_SUSPENDED,
    AgreementStatus.EXPIRED: Rejection.AGREEMENT_EXPIRED,
}


@dataclass(frozen=True)
class Facts:
    """Everything the engine may look at besides the configuration."""

    referral: Referral
    source_kind: OrgKind
    today: date
    prior_referrals: tuple[date, ...] = ()
    load: Mapping[str, int] = field(default_factory=dict)

    @property
    def age(self) -> int:
        """The subject's age in whole years today."""
        return age_on(self.referral.submission.subject.date_of_birth, self.today)


@dataclass(frozen=True)
class _Verdict:
    rejection: Rejection | None
    detail: str = ""
    agreement: Agreement | None = None
    flow: Flow | None = None


def matches(when: Match, facts: Facts) -> bool:
    """True when every condition the rule states holds for these facts."""
    s = facts.referral.submission
    if when.reasons_any and not set(when.reasons_any) & set(s.reasons):
        return False
    if when.risks and s.risk not in when.risks:
        return False
    if when.min_age is not None and facts.age < when.min_age:
        return False
    if when.max_age is not None and facts.age > when.max_age:
        return False
    if when.areas and facts.referral.local_authority not in when.areas:
        return False
    if when.source_kinds and facts.source_kind not in when.source_kinds:
        return False
    if when.consent and s.consent.state not in when.consent:
        return False
    if when.repeat is not None:
        since = facts.today - timedelta(days=when.repeat.within_days)
        recent = sum(1 for d in facts.prior_referrals if d >= since)
        if recent + 1 < when.repeat.at_least:
            return False
    return True


def _eligibility(i: Intervention, facts: Facts) -> _Verdict | None:
    e, s = i.eligibility, facts.referral.submission
    if i.status == "paused":
        return _Verdict(Rejection.PAUSED)
    if not e.min_age <= facts.age <= e.max_age:
        return _Verdict(Rejection.AGE, f"age {facts.age} outside {e.min_age}-{e.max_age}")
    if e.areas and facts.referral.local_authority not in e.areas:
        return _Verdict(Rejection.AREA, f"area {facts.referral.local_authority or 'unknown'}")
    if e.reasons and not set(e.reasons) & set(s.reasons):
        return _Verdict(Rejection.REASON, "none of the referral reasons is accepted")
    if e.risks and s.risk not in e.risks:
        return _Verdict(Rejection.RISK, f"risk {s.risk.value} not accepted")
    if i.capacity is not None and facts.load.get(i.id, 0) >= i.capacity:
        return _Verdict(Rejection.CAPACITY, f"{facts.load.get(i.id, 0)} of {i.capacity} open")
    return None


def _agreement_problem(a: Agreement, today: date) -> _Verdict | None:
    if a.status is not AgreementStatus.ACTIVE:
        return _Verdict(_STATUS_REJECTION[a.status], f"{a.id} v{a.version} is {a.status.value}")
    if a.valid_to is not None and a.valid_to < today:
        return _Verdict(Rejection.AGREEMENT_EXPIRED, f"{a.id} v{a.version} ended {a.valid_to}")
    if a.valid_from > today:
        return _Verdict(Rejection.AGREEMENT_NOT_YET_VALID, f"{a.id} v{a.version} starts later")
    return None


def _flow_problem(flow: Flow, i: Intervention, facts: Facts) -> _Verdict | None:
    consent = facts.referral.submission.consent
    if flow.consent.required and consent.state is not ConsentState.GIVEN:
        ground = consent.override.ground if consent.override else None
        if ground not in flow.consent.override_grounds:
            return _Verdict(
                Rejection.CONSENT_MISSING,
                f"consent {consent.state.value}; flow {flow.id} permits no override on that ground",
            )
    missing = sorted(set(i.required_items) - set(shared_items(flow.items)))
    if missing:
        return _Verdict(Rejection.ITEM_NOT_PERMITTED, "flow does not permit " + ", ".join(missing))
    return None


def latest_agreements(config: RoutingConfiguration) -> list[Agreement]:
    """Only the newest version of each agreement counts; older versions are superseded."""
    newest: dict[str, Agreement] = {}
    for a in config.agreements:
        if a.id not in newest or a.version > newest[a.id].version:
            newest[a.id] = a
    return [newest[k] for k in sorted(newest)]


def _lawful_basis(i: Intervention, facts: Facts, config: RoutingConfiguration) -> _Verdict:
    source, target = facts.referral.source_org, i.provider
    agreements = latest_agreements(config)
    for a in agreements:
        if a.status is AgreementStatus.DRAFT:
            continue
        for p in a.prohibitions:
            if source in p.from_orgs and target in p.to_orgs:
                return _Verdict(Rejection.PROHIBITED, f"{a.id}: {p.reason}")
    if i.consent_required and facts.referral.submission.consent.state is not ConsentState.GIVEN:
        return _Verdict(Rejection.CONSENT_REQUIRED, "the intervention works only with consent")
    first_problem: _Verdict | None = None
    for a in agreements:
        for flow in a.flows:
            if source not in flow.from_orgs or target not in flow.to_orgs:
                continue
            if i.purpose not in flow.purposes:
                continue
            problem = _agreement_problem(a, facts.today) or _flow_problem(flow, i, facts)
            if problem is None:
                return _Verdict(None, agreement=a, flow=flow)
            first_problem = first_problem or problem
    return first_problem or _Verdict(
        Rejection.NO_AGREEMENT, f"no flow {source} -> {target} for purpose {i.purpose}"
    )


def _assess(intervention_id: str, facts: Facts, config: RoutingConfiguration) -> _Verdict:
    i = config.intervention(intervention_id)
    if i is None:
        return _Verdict(Rejection.UNKNOWN)
    return _eligibility(i, facts) or _lawful_basis(i, facts, config)


def _narrowness(i: Intervention) -> tuple[int, int]:
    e = i.eligibility
    return (len(e.areas) or 1000, e.max_age - e.min_age)


def _select(
    rule: Rule, eligible: list[str], facts: Facts, config: RoutingConfiguration
) -> list[str]:
    if not eligible or rule.select == "all":
        return eligible
    if rule.select == "first":
        return eligible[:1]
    requested = facts.referral.submission.requested_intervention
    if requested in eligible:
        return [requested]
    ranked = sorted(eligible, key=lambda x: _narrowness(config.intervention(x)))  # type: ignore[arg-type]
    return ranked[:1]


def decide(facts: Facts, config: RoutingConfiguration, key: bytes) -> Decision:
    """Apply the rules in order; deny by default; explain every candidate."""
    matched: list[str] = []
    candidates: list[Candidate] = []
    recipients: list[Recipient] = []
    chosen_ids: set[str] = set()
    for rule in config.rules:
        if not matches(rule.when, facts):
            continue
        matched.append(rule.id)
        verdicts = {x: _assess(x, facts, config) for x in rule.interventions if x not in chosen_ids}
        eligible = [x for x, v in verdicts.items() if v.rejection is None]
        selected = _select(rule, eligible, facts, config)
        for x, v in verdicts.items():
            if x in selected:
                candidates.append(Candidate(intervention=x, rule=rule.id, chosen=True))
                recipients.append(_recipient(x, v, facts, config, key))
                chosen_ids.add(x)
            else:
                rejection = v.rejection or Rejection.NOT_SELECTED
                candidates.append(
                    Candidate(
                        intervention=x,
                        rule=rule.id,
                        chosen=False,
                        rejection=rejection,
                        detail=v.detail,
                    )
                )
        if selected and rule.stop:
            break
    held: list[str] = []
    if not recipients:
        held = [f"{c.intervention}: {c.rejection}" for c in candidates] or ["no rule matched"]
    return Decision(
        referral_id=facts.referral.id,
        config_version=config.version,
        outcome="routed" if recipients else "held",
        matched_rules=matched,
        candidates=candidates,
        recipients=recipients,
        held_reasons=held,
    )


def _recipient(
    intervention_id: str, v: _Verdict, facts: Facts, config: RoutingConfiguration, key: bytes
) -> Recipient:
    i = config.intervention(intervention_id)
    assert i is not None and v.agreement is not None and v.flow is not None
    return Recipient(
        organisation=i.provider,
        intervention=i.id,
        agreement_id=v.agreement.id,
        agreement_version=v.agreement.version,
        flow_id=v.flow.id,
        items=shared_items(v.flow.items),
        payload=minimise(facts.referral, v.flow.items, facts.today, key),
    )
