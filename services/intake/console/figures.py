"""The dashboard's figures: counts from coded facts of referrals and offers, each breakdown
protected against small numbers before it reaches a page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from vrp.domain.decision import Rejection
from vrp.domain.disclosure_control import Table, median, protect, protect_counts
from vrp.domain.evidence.bands import AGE_BANDS, UNKNOWN, band
from vrp.domain.referral import age_on

NO_RULE = "no-rule-matched"
WEEKS_SHOWN = 12
_ALWAYS = ("routed", "held")

_CONSENT = {Rejection.CONSENT_REQUIRED, Rejection.CONSENT_MISSING}
_AGREEMENT = {
    Rejection.NO_AGREEMENT,
    Rejection.PROHIBITED,
    Rejection.AGREEMENT_DRAFT,
    Rejection.AGREEMENT_SUSPENDED,
    Rejection.AGREEMENT_EXPIRED,
    Rejection.AGREEMENT_NOT_YET_VALID,
    Rejection.ITEM_NOT_PERMITTED,
    Rejection.SOURCE_UNKNOWN,
}
HELD_LABELS: dict[str, str] = {
    NO_RULE: "No routing rule matched",
    Rejection.UNKNOWN: "Intervention not in the configuration",
    Rejection.PAUSED: "Intervention paused",
    Rejection.AGE: "Outside the age range",
    Rejection.AREA: "Outside the areas served",
    Rejection.REASON: "Reason not served",
    Rejection.RISK: "Risk level not served",
    Rejection.CAPACITY: "No capacity",
    Rejection.NO_AGREEMENT: "No agreement flow",
    Rejection.PROHIBITED: "Sharing prohibited",
    Rejection.AGREEMENT_DRAFT: "Agreement still a draft",
    Rejection.AGREEMENT_SUSPENDED: "Agreement suspended",
    Rejection.AGREEMENT_EXPIRED: "Agreement expired",
    Rejection.AGREEMENT_NOT_YET_VALID: "Agreement not yet in force",
    Rejection.CONSENT_REQUIRED: "Consent required by the intervention",
    Rejection.CONSENT_MISSING: "No consent and no permitted override",
    Rejection.ITEM_NOT_PERMITTED: "A required item is not permitted",
    Rejection.NOT_SELECTED: "Not selected (another was chosen)",
    Rejection.SOURCE_UNKNOWN: "Referring organisation not configured",
}


@dataclass(frozen=True, slots=True)
class ReferralFacts:
    """What the dashboard reads of one referral: codes and times, no personal data."""

    received_at: datetime
    area: str | None
    reasons: tuple[str, ...]
    age: int | None
    outcome: str | None  # the router's first decision: routed, held, or None (not yet)
    held: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OfferFacts:
    """One intervention's copy of a referral: when it arrived, was due and was accepted."""

    intervention: str
    received_at: datetime
    respond_by: datetime | None
    accepted_at: datetime | None
    awaiting: bool


@dataclass(frozen=True, slots=True)
class Line:
    """One category of a breakdown: its label and its count (None when suppressed)."""

    code: str
    label: str
    count: int | None


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Counts by one category, protected; `total` is None when suppressed or not shown."""

    key: str
    title: str
    lines: list[Line]
    total: int | None
    shows_total: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One intervention's responses against its respond-by times."""

    intervention: str
    label: str
    in_time: int | None
    late: int | None
    waiting: int | None  # awaiting a response, respond-by time not yet passed
    overdue: int | None
    total: int | None
    median_hours: float | None


@dataclass(frozen=True, slots=True)
class AcceptanceTable:
    """Acceptance by intervention, protected as one two-way table with its totals."""

    rows: list[Acceptance]
    in_time: int | None
    late: int | None
    waiting: int | None  # awaiting a response, respond-by time not yet passed
    overdue: int | None
    total: int | None


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything the dashboard shows, already protected."""

    breakdowns: list[Breakdown] = field(default_factory=list)
    acceptance: AcceptanceTable | None = None


def iso_week(when: datetime) -> str:
    """ISO year and week, e.g. 2026-W48."""
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def week_label(code: str) -> str:
    """`2026-W48` as `Week from 23 Nov 2026`; `earlier` as the weeks before those shown."""
    if code == "earlier":
        return "Earlier weeks"
    year, week = code.split("-W")
    return f"Week from {date.fromisocalendar(int(year), int(week), 1):%d %b %Y}"


def referral_facts(
    received_at: datetime,
    area: str | None,
    body: Mapping[str, Any],
    outcome: str | None,
    detail: Mapping[str, Any] | None,
) -> ReferralFacts:
    """Read a stored referral (full or reduced by retention) and its decision's codes."""
    submission: Mapping[str, Any] = body.get("submission") or {}
    reasons = submission.get("reasons") or body.get("reasons") or []
    born = (submission.get("subject") or {}).get("date_of_birth")
    age = age_on(date.fromisoformat(born), received_at.date()) if born else None
    return ReferralFacts(
        received_at=received_at,
        area=area,
        reasons=tuple(str(r) for r in reasons),
        age=age if age is None or age >= 0 else None,
        outcome=outcome,
        held=held_codes(detail or {}) if outcome == "held" else frozenset(),
    )


def held_codes(detail: Mapping[str, Any]) -> frozenset[str]:
    """The coded reasons a held decision gives (never its details, which may quote facts)."""
    codes: set[str] = set()
    for c in detail.get("candidates") or []:
        blocks = c.get("blocks") or []
        codes |= {str(b["code"]) for b in blocks if b.get("code")}
        if not blocks and c.get("rejection"):
            codes.add(str(c["rejection"]))
    return frozenset(codes) or frozenset({NO_RULE})


def held_group(code: str) -> str:
    """Whether a held reason is about provision, an agreement or consent."""
    if code in _AGREEMENT:
        return "agreement"
    if code in _CONSENT:
        return "consent"
    return "provision"


def _breakdown(
    key: str,
    title: str,
    counts: Mapping[str, int],
    label: Callable[[str], str],
    threshold: int,
    *,
    additive: bool = True,
    note: str = "",
) -> Breakdown:
    shown, total = protect_counts(counts, threshold)
    lines = [Line(code, label(code), v) for code, v in shown.items()]
    # A referral may fall in several categories: the sum means nothing, so it is not shown
    # (the protection still treats it as published, which only errs on the safe side).
    return Breakdown(key, title, lines, total if additive else None, additive, note)


def _weeks(facts: Iterable[ReferralFacts]) -> dict[str, int]:
    counts = Counter(iso_week(f.received_at) for f in facts)
    recent = sorted(counts)[-WEEKS_SHOWN:]
    earlier = sum(v for k, v in counts.items() if k not in recent)
    # Older weeks are one line, not dropped: otherwise the grand total less this table's
    # total would publish their count unprotected.
    out = {"earlier": earlier} if earlier else {}
    return out | {k: counts[k] for k in recent}


def volumes(
    facts: list[ReferralFacts],
    threshold: int,
    areas: Mapping[str, str],
    reasons: Mapping[str, str],
) -> list[Breakdown]:
    """Referrals by area, reason, age band, week and routing outcome, and held reasons."""
    by_area = Counter(f.area or UNKNOWN for f in facts)
    by_reason = Counter(r for f in facts for r in set(f.reasons))
    by_age = Counter(band(f.age) for f in facts)
    outcome = Counter(f.outcome or "undecided" for f in facts)
    held = Counter(c for f in facts for c in f.held)
    outcome_labels = {
        "routed": "Routed",
        "held": "Held for the hub",
        "undecided": "Not yet decided",
    }
    return [
        _breakdown(
            "area",
            "Referrals by local authority",
            {c: by_area[c] for c in sorted(set(areas) | set(by_area))},
            lambda c: areas.get(c, "Unknown or outside the partnership"),
            threshold,
        ),
        _breakdown(
            "reason",
            "Referrals by reason",
            dict(sorted(by_reason.items())),
            lambda c: reasons.get(c, c),
            threshold,
            additive=False,
            note="A referral can give several reasons, so these add up to more than the total.",
        ),
        _breakdown(
            "age",
            "Referrals by age at receipt",
            {b: by_age[b] for b in (*AGE_BANDS, UNKNOWN) if b in by_age or b != UNKNOWN},
            lambda c: "Not known (or no longer kept)" if c == UNKNOWN else c,
            threshold,
        ),
        _breakdown(
            "week",
            "Referrals by week received",
            _weeks(facts),
            week_label,
            threshold,
        ),
        _breakdown(
            "outcome",
            "Routed and held",
            {
                k: outcome[k]
                for k in ("routed", "held", "undecided")
                if k in outcome or k != "undecided"
            },
            lambda c: outcome_labels.get(c, c),
            threshold,
        ),
        _breakdown(
            "held",
            "Why referrals were held",
            dict(sorted(held.items(), key=lambda kv: (held_group(kv[0]), kv[0]))),
            lambda c: f"{HELD_LABELS.get(c, c)} ({held_group(c)})",
            threshold,
            additive=False,
            note="Held referrals counted under each reason any candidate gave; one referral "
            "can have several.",
        ),
    ]


def acceptance(
    offers: list[OfferFacts], now: datetime, threshold: int, titles: Mapping[str, str]
) -> AcceptanceTable:
    """Per intervention: accepted in time, accepted late, awaiting before and after the
    respond-by time, and the median hours to acceptance (shown only over enough acceptances)."""
    names = sorted({o.intervention for o in offers})
    if not names:
        return AcceptanceTable([], 0, 0, 0, 0, 0)
    cells: list[tuple[int, int, int, int]] = []
    hours: list[list[float]] = []
    for name in names:
        mine = [o for o in offers if o.intervention == name]
        accepted = [o for o in mine if o.accepted_at is not None]
        late = sum(1 for o in accepted if _late(o))
        awaiting = [o for o in mine if o.awaiting]
        overdue = sum(1 for o in awaiting if o.respond_by and o.respond_by < now)
        cells.append((len(accepted) - late, late, len(awaiting) - overdue, overdue))
        hours.append([_hours(o) for o in accepted])
    p = protect(Table(tuple(cells), row_totals=True, column_totals=True), threshold)
    rows = [
        Acceptance(
            name,
            titles.get(name, name),
            in_time=p.cells[i][0],
            late=p.cells[i][1],
            waiting=p.cells[i][2],
            overdue=p.cells[i][3],
            total=p.row_totals[i],
            # a median over a handful of acceptances would all but give their times away
            median_hours=median(hours[i]) if len(hours[i]) >= threshold else None,
        )
        for i, name in enumerate(names)
    ]
    columns = p.column_totals
    return AcceptanceTable(rows, columns[0], columns[1], columns[2], columns[3], p.grand_total)


def _late(o: OfferFacts) -> bool:
    return o.respond_by is not None and o.accepted_at is not None and o.accepted_at > o.respond_by


def _hours(o: OfferFacts) -> float:
    assert o.accepted_at is not None
    return (o.accepted_at - o.received_at).total_seconds() / 3600
