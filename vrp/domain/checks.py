"""Static checks of a configuration: broken references (errors) and lint (warnings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from vrp.domain.index import HUB_TRIAGE, latest_agreements
from vrp.domain.vocabularies import NATIONAL, NATIONAL_URGENCY, URGENCIES
from vrp.domain.vocabulary import AgreementStatus, DataItem, Treatment

if TYPE_CHECKING:  # types only: the configuration runs these checks when it is built
    from vrp.domain.configuration import RoutingConfiguration, Rule

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """A finding about the configuration, with where it is (a path into the documents)."""

    path: Path
    message: str


def _duplicates(config: RoutingConfiguration) -> list[Problem]:
    out: list[Problem] = []
    for section, ids in (
        ("organisations", [o.id for o in config.organisations]),
        ("interventions", [i.id for i in config.interventions]),
        ("rules", [r.id for r in config.rules]),
        ("agreements", [f"{a.id} v{a.version}" for a in config.agreements]),
    ):
        seen: set[str] = set()
        for n, x in enumerate(ids):
            if x in seen:
                out.append(Problem((section, n, "id"), f"duplicate id {x!r} in {section}"))
            seen.add(x)
    return out


def _contact(config: RoutingConfiguration, org_id: str, channel: str) -> bool:
    org = config.organisation(org_id)
    if org is None:
        return True  # reported as an unknown organisation instead
    return getattr(org.contacts, channel) is not None


def _explicit(config: RoutingConfiguration, path: Path) -> set[str]:
    section, n = path[0], int(path[1])
    item = config.interventions[n] if section == "interventions" else config.organisations[n]
    return set(item.model_fields_set)


def channel_problems(config: RoutingConfiguration) -> list[Problem]:
    """Every alert channel has the contact it needs, and the GOV.UK Notify template when
    Notify carries it; fallbacks name other interventions (these are errors)."""
    out: list[Problem] = []
    uses: list[tuple[Path, str, str, tuple[str, ...]]] = []  # where, org, channel, kinds
    for n, i in enumerate(config.interventions):
        for c in i.channels:
            uses.append(
                (("interventions", n, "channels"), i.provider, c, ("new-referral", "reminder"))
            )
        if i.fallback is not None and (
            i.fallback == i.id or config.intervention(i.fallback) is None
        ):
            out.append(
                Problem(
                    ("interventions", n, "fallback"),
                    f"intervention {i.id!r}: fallback {i.fallback!r} is not another intervention",
                )
            )
    for n, o in enumerate(config.organisations):
        if o.id == config.hub:
            kinds: tuple[str, ...] = ("new-referral", "escalation", "delivery-failed")
            uses += [(("organisations", n, "channels"), o.id, c, kinds) for c in o.channels]
        uses += [(("organisations", n, "updates"), o.id, c, ("status",)) for c in o.updates]
    templates = config.notify.templates
    for path, org, channel, kinds in uses:
        # Only channels written down: the default (email) without an address stays legal
        # for configurations that alert nobody and leave partners to read their topics.
        if path[-1] in _explicit(config, path) and not _contact(config, org, channel):
            out.append(
                Problem(path, f"channel {channel}: organisation {org!r} has no {channel} contact")
            )
        if channel == "sms" or (channel == "email" and config.notify.email):
            missing = [k for k in kinds if getattr(templates.get(k), channel, None) is None]  # type: ignore[call-overload]
            out += [
                Problem(
                    path,
                    f"channel {channel} goes through GOV.UK Notify: "
                    f"notify.templates.{k}.{channel} is missing",
                )
                for k in missing
            ]
    return out


def _code_problems(
    config: RoutingConfiguration, kind: str, codes: list[str], path: Path, where: str
) -> list[Problem]:
    """Codes missing from a vocabulary in force; a removed national code says so."""
    noun = kind.replace("_", " ").removesuffix("s")
    out = []
    for code in codes:
        if config.codes.has(kind, code):
            continue
        why = (
            f"it was removed by vocabularies.{kind}"
            if code in NATIONAL[kind]
            else f"add it under vocabularies.{kind}"
        )
        out.append(Problem(path, f"{where}: unknown {noun} {code!r} ({why})"))
    return out


def vocabulary_problems(config: RoutingConfiguration) -> list[Problem]:
    """Changes the program cannot honour: a risk level without an urgency, an urgency for a
    code not in force, urgencies outside risk_levels, no risk level at all."""
    out: list[Problem] = []
    v = config.vocabularies
    for kind in NATIONAL:
        if kind != "risk_levels" and getattr(v, kind).urgency:
            where = ("vocabularies", kind, "urgency")
            out.append(Problem(where, f"vocabularies.{kind}.urgency: only risk levels have one"))
    risks = config.codes.codes["risk_levels"]
    at: Path = ("vocabularies", "risk_levels")
    if not risks:
        out.append(Problem(at, "vocabularies.risk_levels: at least one risk level is needed"))
    choices = ", ".join(URGENCIES)
    for code in risks:
        if code not in v.risk_levels.urgency and code not in NATIONAL_URGENCY:
            out.append(
                Problem(
                    (*at, "add", code),
                    f"vocabularies.risk_levels: risk level {code!r} needs an urgency "
                    f"(under vocabularies.risk_levels.urgency: {choices})",
                )
            )
    for code in v.risk_levels.urgency:
        if code not in risks:
            out.append(
                Problem(
                    (*at, "urgency", code),
                    f"vocabularies.risk_levels.urgency: {code!r} is not a risk level in force",
                )
            )
    return out


_REFUSED_WHERE = (
    f"consent.refused belongs on a flow whose only purpose is {HUB_TRIAGE} (or the "
    "partnership's consent.refused): no receiver is ever offered such a referral"
)


def _consent_and_eligibility_codes(config: RoutingConfiguration) -> list[Problem]:
    out: list[Problem] = []
    for n, i in enumerate(config.interventions):
        where = f"intervention {i.id!r}"
        at: Path = ("interventions", n)
        reasons = i.eligibility.reasons
        out += _code_problems(config, "reasons", reasons, (*at, "eligibility", "reasons"), where)
        risks = list(i.eligibility.risks)
        out += _code_problems(config, "risk_levels", risks, (*at, "eligibility", "risks"), where)
        if i.consent.refused is not None:
            out.append(Problem((*at, "consent", "refused"), f"{where}: {_REFUSED_WHERE}"))
        grounds = i.consent.override_grounds
        at = (*at, "consent", "override_grounds")
        out += _code_problems(config, "override_grounds", grounds, at, where)
    for n, r in enumerate(config.rules):
        where = f"rule {r.id!r}"
        at = ("rules", n, "when", "reasons_any")
        out += _code_problems(config, "reasons", r.when.reasons_any, at, where)
        at = ("rules", n, "when", "risks")
        out += _code_problems(config, "risk_levels", list(r.when.risks), at, where)
        if r.eligibility is not None:
            at = ("rules", n, "eligibility", "reasons")
            out += _code_problems(config, "reasons", r.eligibility.reasons or [], at, where)
            at = ("rules", n, "eligibility", "risks")
            out += _code_problems(config, "risk_levels", list(r.eligibility.risks or []), at, where)
    for n, a in enumerate(config.agreements):
        for k, f in enumerate(a.flows):
            if f.consent.refused is not None and f.purposes != [HUB_TRIAGE]:
                where = f"agreement {a.id!r} v{a.version} flow {f.id!r}"
                at = ("agreements", n, "flows", k, "consent", "refused")
                out.append(Problem(at, f"{where}: {_REFUSED_WHERE}"))
            out += _code_problems(
                config,
                "override_grounds",
                f.consent.override_grounds,
                ("agreements", n, "flows", k, "consent", "override_grounds"),
                f"agreement {a.id!r} v{a.version} flow {f.id!r}",
            )
    return out


def reference_problems(config: RoutingConfiguration) -> list[Problem]:
    """Everything that refers to something that does not exist (these are errors)."""
    orgs = {o.id for o in config.organisations}
    interventions = {i.id for i in config.interventions}
    out = _duplicates(config) + channel_problems(config) + vocabulary_problems(config)
    out += _consent_and_eligibility_codes(config)
    if config.hub not in orgs:
        out.append(Problem(("hub",), f"hub {config.hub!r} is not an organisation"))
    for n, i in enumerate(config.interventions):
        where = f"intervention {i.id!r}"
        if i.provider not in orgs:
            out.append(
                Problem(
                    ("interventions", n, "provider"), f"{where}: unknown provider {i.provider!r}"
                )
            )
        e = i.eligibility
        if e.min_age > e.max_age:
            out.append(
                Problem(("interventions", n, "eligibility"), f"{where}: min_age is above max_age")
            )
    for n, r in enumerate(config.rules):
        out += [
            Problem(("rules", n, "interventions"), f"rule {r.id!r}: unknown intervention {x!r}")
            for x in r.interventions
            if x not in interventions
        ]
    for n, a in enumerate(config.agreements):
        where = f"agreement {a.id!r} v{a.version}"
        out += [
            Problem(("agreements", n, "parties"), f"{where}: unknown party {p!r}")
            for p in a.parties
            if p not in orgs
        ]
        for k, f in enumerate(a.flows):
            at: Path = ("agreements", n, "flows", k)
            out += [
                Problem((*at, "from_orgs"), f"{where} flow {f.id!r}: {o!r} is not a party")
                for o in [*f.from_orgs, *f.to_orgs]
                if o not in a.parties
            ]
            out += [
                Problem(
                    (*at, "items", item.value),
                    f"{where} flow {f.id!r}: age-band applies only to date of birth",
                )
                for item, t in f.items.items()
                if t is Treatment.AGE_BAND and item is not DataItem.SUBJECT_DATE_OF_BIRTH
            ]
    return out


def warnings(config: RoutingConfiguration, today: date) -> list[Problem]:
    """Lawful but probably wrong: unreachable interventions, expiring agreements, dead rules."""
    out: list[Problem] = []
    latest = {a.id: a for a in latest_agreements(config)}
    for n, a in enumerate(config.agreements):
        if latest[a.id] is not a or a.status is not AgreementStatus.ACTIVE:
            continue
        if a.valid_to is not None and a.valid_to < today:
            out.append(
                Problem(
                    ("agreements", n, "status"),
                    f"agreement {a.id!r} v{a.version} ended on {a.valid_to} but its "
                    "status is still active",
                )
            )
        elif a.valid_to is not None and a.valid_to <= today + timedelta(days=30):
            out.append(
                Problem(
                    ("agreements", n, "valid_to"),
                    f"agreement {a.id!r} v{a.version} expires on {a.valid_to}",
                )
            )
        if a.review_on is not None and a.review_on < today:
            out.append(
                Problem(
                    ("agreements", n, "review_on"),
                    f"agreement {a.id!r} v{a.version} was due for review {a.review_on}",
                )
            )
    if not _hub_triage_flow(config, today):
        out.append(
            Problem(
                ("hub",),
                f"no active flow for purpose {HUB_TRIAGE} to the hub {config.hub!r}: held "
                "referrals reach the hub as ids and reason codes only",
            )
        )
    for n, i in enumerate(config.interventions):
        senders = _lawful_senders(config, i.provider, i.purpose, today)
        if i.status == "paused":
            out.append(
                Problem(
                    ("interventions", n, "status"),
                    f"intervention {i.id!r} is paused: no referral reaches it until its "
                    "status is active again",
                )
            )
        elif not senders:
            out.append(
                Problem(
                    ("interventions", n),
                    f"intervention {i.id!r}: no organisation can "
                    f"lawfully refer to it (no active flow to {i.provider} for "
                    f"purpose {i.purpose})",
                )
            )
        elif not any(i.id in r.interventions for r in config.rules):
            out.append(Problem(("interventions", n), f"intervention {i.id!r}: no rule selects it"))
    for n, r in enumerate(config.rules):
        reason = _never_fires(config, r, today)
        if reason:
            out.append(Problem(("rules", n), f"rule {r.id!r} can never route anyone: {reason}"))
    return out


def _hub_triage_flow(config: RoutingConfiguration, today: date) -> bool:
    return bool(_lawful_senders(config, config.hub, HUB_TRIAGE, today))


def _lawful_senders(
    config: RoutingConfiguration, provider: str, purpose: str, today: date
) -> set[str]:
    senders: set[str] = set()
    for a in latest_agreements(config):
        in_date = a.valid_from <= today and (a.valid_to is None or a.valid_to >= today)
        if a.status is not AgreementStatus.ACTIVE or not in_date:
            continue
        for f in a.flows:
            if provider in f.to_orgs and purpose in f.purposes:
                senders |= set(f.from_orgs)
    return senders


def _never_fires(config: RoutingConfiguration, r: Rule, today: date) -> str | None:
    w = r.when
    if w.min_age is not None and w.max_age is not None and w.min_age > w.max_age:
        return "min_age is above max_age"
    kinds = {o.kind for o in config.organisations}
    if w.source_kinds and not kinds & set(w.source_kinds):
        return "no organisation is of the source kinds it requires"
    for x in r.interventions:
        i = config.intervention(x)
        if i is None or i.status == "paused":
            continue
        e = i.eligibility
        if r.eligibility is not None:  # the rule's own eligibility overrides
            e = e.model_copy(update=r.eligibility.model_dump(exclude_none=True))
        lo, hi = max(e.min_age, w.min_age or 0), min(e.max_age, w.max_age or 130)
        areas_ok = not (w.areas and e.areas) or set(w.areas) & set(e.areas)
        reasons_ok = not (w.reasons_any and e.reasons) or set(w.reasons_any) & set(e.reasons)
        senders = _lawful_senders(config, i.provider, i.purpose, today)
        kinds_ok = not w.source_kinds or any(
            (o := config.organisation(s)) is not None and o.kind in w.source_kinds for s in senders
        )
        if lo <= hi and areas_ok and reasons_ok and senders and kinds_ok:
            return None
    return (
        "none of its interventions is active, eligible under its conditions and lawfully reachable"
    )


def stored_code_warnings(
    config: RoutingConfiguration, stored: Mapping[str, Mapping[str, int]]
) -> list[Problem]:
    """Codes that stored referrals use but the vocabularies in force no longer have:
    lawful (they were valid when sent) but reports and simulations will show them."""
    out: list[Problem] = []
    for kind, counts in sorted(stored.items()):
        for code, n in sorted(counts.items()):
            if not config.codes.has(kind, code):
                out.append(
                    Problem(
                        ("vocabularies", kind),
                        f"{kind.replace('_', ' ')} code {code!r} is not in the vocabulary "
                        f"but {n} stored referral(s) use it",
                    )
                )
    return out
