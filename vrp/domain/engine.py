"""The routing engine: facts + configuration -> explainable, minimised decision. Pure."""

from __future__ import annotations

from datetime import timedelta

from vrp.domain.assessment import Verdict, assess, lawful_flow, refused_without_override
from vrp.domain.configuration import Intervention, Match, RoutingConfiguration, Rule
from vrp.domain.decision import Block, Candidate, Decision, Recipient, Rejection
from vrp.domain.facts import Facts
from vrp.domain.hub_view import for_the_hub, hub_reasons
from vrp.domain.index import HUB_TRIAGE, ConfigIndex
from vrp.domain.minimise import minimise
from vrp.domain.referral import Referral
from vrp.domain.vocabulary import ConsentState


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

    Payloads are minimised from `referral` when given; simulations pass only facts. A
    referral whose consent was refused or withdrawn with no override ground is held for the
    hub before any rule: it is never offered to a receiver automatically.
    """
    idx = config.index
    if refused_without_override(f):
        return _held_without_consent(idx, f, key, referral)
    matched: list[str] = []
    candidates: list[Candidate] = []
    recipients: list[Recipient] = []
    chosen: set[str] = set()
    for rule in config.rules:
        if not matches(rule.when, f):
            continue
        matched.append(rule.id)
        verdicts = {
            x: assess(idx, x, f, rule.eligibility) for x in rule.interventions if x not in chosen
        }
        eligible = [x for x, v in verdicts.items() if v.rejection is None]
        selected = _select(rule, eligible, f, idx)
        for x, v in verdicts.items():
            if x in selected:
                i = idx.interventions[x]
                recipients.append(_recipient(i.provider, x, v, f, key, referral))
                chosen.add(x)
            candidates.append(_candidate(x, rule.id, v, x in selected))
        if selected and rule.stop:
            break
    if recipients:
        return Decision(f.referral_id, idx.version, "routed", matched, candidates, recipients, [])
    return _held(idx, f, key, referral, matched, candidates)


def _candidate(intervention: str, rule: str, v: Verdict, chosen: bool) -> Candidate:
    blocks = v.blocks if chosen or v.blocks else (Block(Rejection.NOT_SELECTED),)
    return Candidate(
        intervention=intervention,
        rule=rule,
        chosen=chosen,
        rejection=None if chosen else blocks[0].code,
        detail="" if chosen else blocks[0].detail,
        blocks=() if chosen else blocks,
        adjusted=v.adjusted,
    )


def _held(
    idx: ConfigIndex,
    f: Facts,
    key: bytes,
    referral: Referral | None,
    matched: list[str],
    candidates: list[Candidate],
) -> Decision:
    """Held for the hub: every candidate's reasons, and the hub's own (minimised) view."""
    held = [c.reasons_line() for c in candidates] or ["no rule matched"]
    v = lawful_flow(idx, f, idx.hub, HUB_TRIAGE, [])
    hub = None if v.lawful is None else _recipient(idx.hub, HUB_TRIAGE, v, f, key, referral)
    permitted = None if v.lawful is None else v.lawful.flow.items
    return Decision(
        referral_id=f.referral_id,
        config_version=idx.version,
        outcome="held",
        matched_rules=matched,
        candidates=candidates,
        recipients=[],
        held_reasons=held,
        hub=hub,
        hub_reasons=hub_reasons(candidates, permitted) or ["no rule matched"],
    )


def _held_without_consent(
    idx: ConfigIndex, f: Facts, key: bytes, referral: Referral | None
) -> Decision:
    """Held for the hub to decide whether another lawful basis (a safeguarding ground, say)
    applies; the hub reads what its triage flow permits (ids and codes without one)."""
    refused = f.consent is ConsentState.REFUSED
    code = Rejection.CONSENT_REFUSED if refused else Rejection.CONSENT_WITHDRAWN
    v = lawful_flow(idx, f, idx.hub, HUB_TRIAGE, [])
    hub = None if v.lawful is None else _recipient(idx.hub, HUB_TRIAGE, v, f, key, referral)
    detail = f"consent {f.consent.value}, no override ground: held for the hub to decide"
    return Decision(
        referral_id=f.referral_id,
        config_version=idx.version,
        outcome="held",
        matched_rules=[],
        candidates=[],
        recipients=[],
        held_reasons=[f"{code} ({detail})"],
        hub=hub,
        hub_reasons=[str(code)],
    )


def unknown_source(referral_id: str, source_org: str, config: RoutingConfiguration) -> Decision:
    """Held for the hub (ids and codes only): the sender is not in the configuration in
    force, e.g. removed by a reload while its referral was in flight."""
    reason = (
        f"{source_org}: {Rejection.SOURCE_UNKNOWN} (the configuration in force has no "
        "such organisation, so no rule or agreement can apply)"
    )
    return Decision(
        referral_id=referral_id,
        config_version=config.version,
        outcome="held",
        matched_rules=[],
        candidates=[],
        recipients=[],
        held_reasons=[reason],
        hub=None,
        hub_reasons=[f"{source_org}: {Rejection.SOURCE_UNKNOWN}"],
    )


def offer(
    f: Facts,
    config: RoutingConfiguration,
    key: bytes,
    referral: Referral,
    intervention_id: str,
    rule: str = FALLBACK,
) -> Decision:
    """Offer a referral to one named intervention (an escalation's fallback, or the hub
    routing by hand; `rule` names which): no rules, but the same eligibility, consent and
    agreement checks, and a payload minimised afresh for the provider."""
    idx = config.index
    v = assess(idx, intervention_id, f)
    candidate = _candidate(intervention_id, rule, v, v.rejection is None)
    recipients: list[Recipient] = []
    if v.rejection is None:
        i = idx.interventions[intervention_id]
        recipients.append(_recipient(i.provider, intervention_id, v, f, key, referral))
    return Decision(
        referral_id=f.referral_id,
        config_version=idx.version,
        outcome="routed" if recipients else "held",
        matched_rules=[],
        candidates=[candidate],
        recipients=recipients,
        held_reasons=[] if recipients else [candidate.reasons_line()],
        hub=None,
        # What the hub may read of a refusal, e.g. of its own routing by hand.
        hub_reasons=[] if recipients else for_the_hub([candidate], f, config),
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
