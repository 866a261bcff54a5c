"""Assess one candidate intervention: every reason it cannot take a referral, in a fixed
order (eligibility, the intervention's consent rule, then the lawful basis for sharing),
or the agreement flow that permits it. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from vrp.domain.configuration import ConsentRule, Eligibility, EligibilityOverride, Intervention
from vrp.domain.decision import Block, Rejection
from vrp.domain.facts import Facts
from vrp.domain.index import ConfigIndex, FlowRef
from vrp.domain.minimise import age_band, unmet
from vrp.domain.vocabulary import AgreementStatus, ConsentState, DataItem

_STATUS_REJECTION = {
    AgreementStatus.DRAFT: Rejection.AGREEMENT_DRAFT,
    AgreementStatus.SUSPENDED: Rejection.AGREEMENT_SUSPENDED,
    AgreementStatus.EXPIRED: Rejection.AGREEMENT_EXPIRED,
}

AREA_UNKNOWN = (
    "area unknown: the postcode is not in the geography table and the referral gave no "
    "subject.local_authority"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Every blocking reason for one candidate, or the flow that permits sharing with it."""

    blocks: tuple[Block, ...] = ()
    lawful: FlowRef | None = None
    adjusted: tuple[str, ...] = ()

    @property
    def rejection(self) -> Rejection | None:
        """The first blocking reason's code, if any."""
        return self.blocks[0].code if self.blocks else None

    @property
    def detail(self) -> str:
        """The first blocking reason's detail."""
        return self.blocks[0].detail if self.blocks else ""


def _listed(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values) if values else "any"


def effective_eligibility(
    i: Intervention, override: EligibilityOverride | None
) -> tuple[Eligibility, tuple[str, ...]]:
    """The intervention's eligibility with a rule's overrides applied, and what changed."""
    if override is None:
        return i.eligibility, ()
    changes = override.model_dump(exclude_none=True)
    before = i.eligibility.model_dump()
    adjusted = tuple(
        f"{k}: {_listed(before[k]) if isinstance(before[k], list) else before[k]} -> "
        f"{_listed(v) if isinstance(v, list) else v}"
        for k, v in changes.items()
        if before[k] != v
    )
    return i.eligibility.model_copy(update=changes), adjusted


def _effective(
    idx: ConfigIndex, i: Intervention, override: EligibilityOverride | None
) -> tuple[Eligibility, tuple[str, ...]]:
    if override is None:
        return i.eligibility, ()
    # A rule's override is part of the configuration the index belongs to: the same object
    # for as long as the index lives.
    key = ("eligibility", i.id, id(override))
    found = idx.memo.get(key)
    if found is None:
        found = idx.memo[key] = (override, effective_eligibility(i, override))
    assert isinstance(found, tuple)
    kept, result = found
    if kept is not override:  # an id reused by another object: compute afresh
        return effective_eligibility(i, override)
    return result  # type: ignore[no-any-return]


def eligibility_blocks(i: Intervention, e: Eligibility, f: Facts) -> list[Block]:
    """Every eligibility criterion the referral fails, and capacity."""
    out: list[Block] = []
    if i.status == "paused":
        out.append(Block(Rejection.PAUSED, "the intervention is paused"))
    if not e.min_age <= f.age <= e.max_age:
        span = f"outside {e.min_age}-{e.max_age}"
        out.append(
            Block(
                Rejection.AGE,
                f"age {f.age} {span}",
                DataItem.SUBJECT_DATE_OF_BIRTH,
                f"age band {age_band(f.age)} {span}",
            )
        )
    if e.areas and f.area is None:
        out.append(Block(Rejection.AREA, AREA_UNKNOWN))
    elif e.areas and f.area not in e.areas:
        out.append(Block(Rejection.AREA, f"area {f.area} not served", DataItem.SUBJECT_AREA))
    if e.reasons and f.reasons.isdisjoint(e.reasons):
        out.append(
            Block(Rejection.REASON, "none of the referral reasons is accepted", DataItem.REASONS)
        )
    if e.risks and f.risk not in e.risks:
        out.append(Block(Rejection.RISK, f"risk {f.risk} not accepted", DataItem.RISK))
    if i.capacity is not None and f.load.get(i.id, 0) >= i.capacity:
        taken = f.load.get(i.id, 0)
        out.append(Block(Rejection.CAPACITY, f"{taken} of {i.capacity} places taken"))
    return out


def consent_holds(rule: ConsentRule, f: Facts) -> bool:
    """Consent given, or not needed, or overridden on a ground the rule permits; or (a
    hub-triage flow's `refused: hold-for-hub`) refused or withdrawn with no override, for
    the hub to decide whether another lawful basis applies."""
    return (
        not rule.required
        or f.consent is ConsentState.GIVEN
        or (f.override_ground is not None and f.override_ground in rule.override_grounds)
        or (rule.refused == "hold-for-hub" and refused_without_override(f))
    )


def refused_without_override(f: Facts) -> bool:
    """Consent refused or withdrawn, and no override ground recorded."""
    return f.consent in (ConsentState.REFUSED, ConsentState.WITHDRAWN) and not f.override_ground


def consent_block(rule: ConsentRule, f: Facts, code: Rejection, whose: str) -> Block | None:
    """Why a consent rule does not hold, naming the state (e.g. withdrawn) and the ground."""
    if consent_holds(rule, f):
        return None
    ground = f"override ground {f.override_ground}" if f.override_ground else "no override"
    permits = _listed(rule.override_grounds) if rule.override_grounds else "no override"
    return Block(
        code,
        f"consent {f.consent.value}, {ground}, but {whose} permits {permits}",
        DataItem.CONSENT,
    )


def _agreement_block(ref: FlowRef, today: date) -> Block | None:
    a = ref.agreement
    if a.status is not AgreementStatus.ACTIVE:
        return Block(_STATUS_REJECTION[a.status], f"{a.id} v{a.version} is {a.status.value}")
    if a.valid_to is not None and a.valid_to < today:
        return Block(Rejection.AGREEMENT_EXPIRED, f"{a.id} v{a.version} ended {a.valid_to}")
    if a.valid_from > today:
        return Block(
            Rejection.AGREEMENT_NOT_YET_VALID, f"{a.id} v{a.version} starts {a.valid_from}"
        )
    return None


def _flow_blocks(ref: FlowRef, required: Sequence[str], f: Facts) -> list[Block]:
    out = [_agreement_block(ref, f.today)]
    out.append(consent_block(ref.flow.consent, f, Rejection.CONSENT_MISSING, f"flow {ref.flow.id}"))
    missing = unmet(required, ref.shared)
    if missing:
        detail = f"flow {ref.flow.id} does not permit {', '.join(missing)}"
        out.append(Block(Rejection.ITEM_NOT_PERMITTED, detail))
    return [b for b in out if b is not None]


MEMO_LIMIT = 50_000
"""Remembered verdicts per configuration index before the memo starts afresh."""


def lawful_flow(
    idx: ConfigIndex, f: Facts, target: str, purpose: str, required: Sequence[str]
) -> Verdict:
    """Deny by default: the first in-date, active flow that covers this sharing, or every
    reason each candidate flow fails (a prohibition wins over any flow).

    The verdict depends only on the sender, the date and the consent facts, so it is
    remembered in the index for the next referral with the same ones."""
    key = (
        "flow",
        f.source_org,
        target,
        purpose,
        tuple(required),
        f.today,
        f.consent,
        f.override_ground,
    )
    found = idx.memo.get(key)
    if found is None:
        if len(idx.memo) >= MEMO_LIMIT:
            idx.memo.clear()
        found = idx.memo[key] = _lawful_flow(idx, f, target, purpose, required)
    assert isinstance(found, Verdict)
    return found


def _lawful_flow(
    idx: ConfigIndex, f: Facts, target: str, purpose: str, required: Sequence[str]
) -> Verdict:
    prohibition = idx.prohibited.get((f.source_org, target))
    if prohibition is not None:
        return Verdict((Block(Rejection.PROHIBITED, prohibition),))
    problems: list[Block] = []
    for ref in idx.flows_for(f.source_org, target, purpose):
        blocks = _flow_blocks(ref, required, f)
        if not blocks:
            return Verdict(lawful=ref)
        problems += [b for b in blocks if b not in problems]
    if problems:
        return Verdict(tuple(problems))
    detail = f"no flow {f.source_org} -> {target} for purpose {purpose}"
    return Verdict((Block(Rejection.NO_AGREEMENT, detail),))


def assess(
    idx: ConfigIndex, intervention_id: str, f: Facts, override: EligibilityOverride | None = None
) -> Verdict:
    """Every check, each reported: eligibility (as a rule may adjust it), the
    intervention's consent rule, then the agreement flow; both consent rules must hold."""
    i = idx.interventions.get(intervention_id)
    if i is None:
        return Verdict((Block(Rejection.UNKNOWN, "not in the configuration"),))
    eligibility, adjusted = _effective(idx, i, override)
    blocks = eligibility_blocks(i, eligibility, f)
    own = consent_block(i.consent, f, Rejection.CONSENT_REQUIRED, "the intervention")
    if own is not None:
        blocks.append(own)
    sharing = lawful_flow(idx, f, i.provider, i.purpose, i.required_items)
    blocks += sharing.blocks
    if blocks:
        return Verdict(tuple(blocks), adjusted=adjusted)
    return Verdict(lawful=sharing.lawful, adjusted=adjusted)
