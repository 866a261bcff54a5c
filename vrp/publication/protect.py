"""The evaluation's tables protected before they reach a page or a CSV. Counts that add up
to one another are protected as one table (the funnel, its declines and its outcomes are
one partition of the offers; a re-referral window and its cohort are one table), so that
no table can be differenced against another; every share, interval or time resting on a
suppressed count is left out."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from vrp.domain.disclosure_control import Protected, Table, protect, protect_counts
from vrp.domain.evidence.results import Funnel, PeriodEvaluation, ReReferral, Spread
from vrp.publication.cells import (
    Bounds,
    Column,
    EvidenceTable,
    Row,
    Value,
    derived,
)

NOT_ANSWERED = "no-response"
ACCEPTED_ONLY = "accepted"
IN_CONTACT = "in-contact"

Labels = Mapping[str, str]


def partition(e: PeriodEvaluation) -> dict[str, int]:
    """Every offer of the period in exactly one part: declined (by reason), not answered,
    accepted only, in contact, completed (by outcome)."""
    f: Funnel = e.funnel
    parts = {f"declined:{r}": n for r, n in sorted(e.declines.items())}
    if sum(e.declines.values()) < f.declined:  # a decline without a coded reason
        parts["declined:none"] = f.declined - sum(e.declines.values())
    parts[NOT_ANSWERED] = f.no_response
    parts[ACCEPTED_ONLY] = f.accepted_only
    parts[IN_CONTACT] = f.in_contact
    parts |= {f"completed:{o}": n for o, n in sorted(e.outcomes.items())}
    if sum(e.outcomes.values()) < f.completed:
        parts["completed:none"] = f.completed - sum(e.outcomes.values())
    return parts


class ProtectedFunnel:
    """The partition as it may be published, and the stages worked out from it only where
    what is shown gives them away anyway."""

    def __init__(self, e: PeriodEvaluation, threshold: int) -> None:
        self.parts, self.offered = protect_counts(partition(e), threshold)

    def sum(self, keep: Callable[[str], bool]) -> int | None:
        """The parts `keep` picks, added up (None unless already derivable)."""
        inside = [v for k, v in self.parts.items() if keep(k)]
        outside = [v for k, v in self.parts.items() if not keep(k)]
        return derived(inside, outside, self.offered)

    def stages(self) -> list[tuple[str, str, int | None]]:
        """Offered, accepted, first contact and completed (each counts the offers that
        reached the step or went further)."""
        return [
            ("offered", "Offered", self.offered),
            ("accepted", "Accepted", self.sum(_accepted)),
            ("first-contact", "First contact made (or completed)", self.sum(_contact)),
            ("completed", "Completed", self.sum(_completed)),
        ]


def _accepted(k: str) -> bool:
    return k in (ACCEPTED_ONLY, IN_CONTACT) or k.startswith("completed:")


def _contact(k: str) -> bool:
    return k == IN_CONTACT or k.startswith("completed:")


def _completed(k: str) -> bool:
    return k.startswith("completed:")


def _not_accepted(k: str) -> bool:
    return k == NOT_ANSWERED or k.startswith("declined:")


def _declined(k: str) -> bool:
    return k.startswith("declined:")


def _share(n: int | None, total: int | None) -> float | None:
    return None if n is None or not total else n / total * 100


def funnel_table(now: ProtectedFunnel, before: ProtectedFunnel, before_label: str) -> EvidenceTable:
    """The steps now and in the period compared with."""
    rows = [
        Row(code, label, (n, _share(n, now.offered), b, _share(b, before.offered)))
        for (code, label, n), (_, _, b) in zip(now.stages(), before.stages(), strict=True)
    ]
    return EvidenceTable(
        "funnel",
        "From offer to completion",
        (
            Column("offers", "Offers"),
            Column("share", "Share of offers", "percent"),
            Column("offers_before", f"Offers, {before_label}"),
            Column("share_before", f"Share, {before_label}", "percent"),
        ),
        tuple(rows),
        note="Offers made in the period, counted at the furthest step each reached by now; a "
        "completed offer counts as accepted and contacted even when those times were not "
        "recorded.",
        header="Step",
        chart="offers",
    )


def breakdown_table(
    key: str,
    title: str,
    p: ProtectedFunnel,
    prefix: str,
    labels: Labels,
    extra: tuple[str, str] | None,
    total: tuple[str, Callable[[str], bool]],
) -> EvidenceTable:
    """The declines by reason or the completions by outcome, from the same partition."""
    rows = [
        Row(k.split(":", 1)[1], labels.get(k.split(":", 1)[1], k.split(":", 1)[1]), (v,))
        for k, v in p.parts.items()
        if k.startswith(prefix)
    ]
    if extra is not None:
        rows.append(Row(extra[0], extra[1], (p.parts[extra[0]],)))
    return EvidenceTable(
        key,
        title,
        (Column("offers", "Offers"),),
        tuple(rows),
        Row("total", total[0], (p.sum(total[1]),)),
        header="Reason" if prefix == "declined:" else "Outcome",
        chart="offers",
    )


def declines_table(p: ProtectedFunnel, labels: Labels) -> EvidenceTable:
    """Offers not accepted, by coded decline reason, and those never answered."""
    return breakdown_table(
        "declines",
        "Offers not accepted, by reason",
        p,
        "declined:",
        dict(labels) | {"none": "Declined, no reason given"},
        (NOT_ANSWERED, "No answer (awaiting, or cancelled first)"),
        ("Not accepted", _not_accepted),
    )


def outcomes_table(p: ProtectedFunnel, labels: Labels) -> EvidenceTable:
    """Completed offers by coded outcome."""
    return breakdown_table(
        "outcomes",
        "Completed offers, by outcome",
        p,
        "completed:",
        dict(labels) | {"none": "No outcome given"},
        None,
        ("Completed", _completed),
    )


def times_table(to_acceptance: Spread, to_contact: Spread, threshold: int) -> EvidenceTable:
    """Median and 90th percentile hours, shown only over at least `threshold` offers (a
    percentile of a handful is one person's own time)."""
    rows = []
    for code, label, s in (
        ("acceptance", "Offer to acceptance", to_acceptance),
        ("first-contact", "Offer to first contact", to_contact),
    ):
        ok = s.n >= threshold
        shown: tuple[Value, Value] = (s.median_hours, s.p90_hours) if ok else ("too few", "too few")
        rows.append(Row(code, label, shown))
    return EvidenceTable(
        "times",
        "Time taken, in hours",
        (
            Column("median_hours", "Median hours", "hours"),
            Column("p90_hours", "90th percentile hours", "hours"),
        ),
        tuple(rows),
        note=f"Over the offers with the time recorded; nearest-rank percentiles, shown over "
        f"{threshold} or more offers.",
        header="Step",
    )


REREFERRAL_COLUMNS = ("re-referred", "not-re-referred", "unmatched", "too-recent")


def rereferral_cells(r: ReReferral) -> Table:
    """Both groups' people in one table: re-referred, not re-referred (the matched),
    unmatched, too recent; row totals (everyone considered) published."""
    cells = tuple(
        (g.re_referred, g.people - g.re_referred, c.unmatched, c.too_recent)
        for g, c in ((r.engaged, r.engaged_cohort), (r.comparison, r.comparison_cohort))
    )
    return Table(cells, row_totals=True)


def rereferral_table(r: ReReferral, threshold: int) -> EvidenceTable:
    """Engaged against comparison for one window; a share, its interval and the effective
    size only where both its counts are shown."""
    p: Protected = protect(rereferral_cells(r), threshold)
    rows: list[Row] = []
    for i, (code, label, g) in enumerate(
        (
            ("engaged", "Completed the intervention", r.engaged),
            ("comparison", "Offered it, did not engage (weighted)", r.comparison),
        )
    ):
        re, no, unmatched, recent = p.cells[i]
        ok = re is not None and no is not None
        values: tuple[Value, ...] = (
            p.row_totals[i],
            None if not ok or re is None or no is None else re + no,
            unmatched,
            recent,
            re,
            g.proportion * 100 if ok and g.proportion is not None else None,
            Bounds(g.interval.low * 100, g.interval.high * 100) if ok and g.interval else None,
            g.effective_size if ok else None,
        )
        rows.append(Row(code, label, values))
    return EvidenceTable(
        f"rereferral-{r.months}m",
        f"Referred again within {r.months} months of the index date",
        (
            Column("people", "People considered"),
            Column("matched", "Matched"),
            Column("unmatched", "No match (left out)"),
            Column("too_recent", "Window not yet over"),
            Column("rereferred", "Referred again"),
            Column("share", "Share referred again", "percent"),
            Column("share_ci", "95% interval", "interval"),
            Column("effective_size", "Effective size", "number"),
        ),
        tuple(rows),
        note=f"Within {r.days} days. Matched on age band, primary reason and local authority: "
        f"{r.strata} strata with people in both groups; the comparison group is weighted to "
        "the engaged group's mix. Wilson intervals. An observational comparison, not a trial: "
        "people who complete an intervention may differ from those who do not in ways the "
        "matching cannot see.",
        header="Group",
        chart="share",
    )
