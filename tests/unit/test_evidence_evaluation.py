"""The evaluation of interventions, computed in the database, against figures worked out by
hand on a small partnership: the funnel, declines and outcomes, nearest-rank times, and
re-referral within 6 and 12 months against a matched comparison group (boundaries: exactly
183 days, a person referred twice on one day, an intervention with no completions, a
pilot's before and during). On SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from testkit.evidence import EvidenceRows
from testkit.rules import base
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.intervals import wilson
from vrp.domain.evidence.percentiles import percentile
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence.results import Cohort, InterventionEvaluation
from vrp.domain.lifecycle import RecipientState as S
from vrp.store.database import Database
from vrp.store.evidence import evaluation
from vrp.store.evidence_offers import spreads
from vrp.store.unit import reading

Q1 = (date(2026, 1, 1), date(2026, 3, 31))
LATER = datetime(2027, 6, 1, tzinfo=UTC)  # every 12-month window of Q1 has passed


def at(month: int, day: int, hour: int = 0, year: int = 2026) -> datetime:
    """A moment in UTC."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def partnership(**pilot: str) -> RoutingConfiguration:
    """The rules' small partnership with three more interventions: mentoring (maybe a
    pilot), sports (offers, no completions) and quiet (no offers at all)."""
    data = base()
    template = data["interventions"][0]
    for name in ("mentoring", "sports", "quiet"):
        extra = {**template, "id": name, "title": name.title()}
        if name == "mentoring":
            extra |= pilot
        data["interventions"].append(extra)
    return RoutingConfiguration.model_validate(data)


DONE_1 = at(2, 1)  # P1's completion; P1 is referred again exactly 183 days later
DONE_2 = at(2, 10)  # P2's; referred again 183 days and one second later


async def mentoring(db: Database) -> None:
    """Q1 2026 for mentoring (and sports), worked out by hand in the tests below.

    Stratum A (14-17, knife-crime, Birmingham): engaged P1, P2; comparison P4, P5, P6.
    Stratum B (10-13, gang, Birmingham): engaged P9; comparison P10, P11.
    Unmatched: P3 (engaged, 18-24), P8 (comparison, 25+). P7 made contact (neither).
    P2 also declined an earlier offer (engaged, so never in the comparison)."""
    r = EvidenceRows()
    h = timedelta(hours=1)
    # P1: accepted after 2 h, contact after 24 h, completed 1 Feb; again at exactly 183 days.
    p1 = r.referral(at(1, 5, 9), "P1")
    r.offer(p1, "mentoring", at(1, 5, 10), S.COMPLETED, accepted_at=at(1, 5, 12),
            first_contact_at=at(1, 6, 10), closed_at=DONE_1, outcome="goals-met")  # fmt: skip
    r.referral(DONE_1 + timedelta(days=183), "P1")
    # P2: an early offer declined; then 4 h, 48 h, completed 10 Feb; again at 183 days + 1 s.
    p2a = r.referral(at(1, 2, 9), "P2")
    r.offer(
        p2a, "mentoring", at(1, 2, 10), S.DECLINED, closed_at=at(1, 2, 11), reason="no-capacity"
    )
    p2 = r.referral(at(1, 10, 9), "P2")
    r.offer(p2, "mentoring", at(1, 10, 10), S.COMPLETED, accepted_at=at(1, 10, 14),
            first_contact_at=at(1, 12, 10), closed_at=DONE_2, outcome="goals-met")  # fmt: skip
    r.referral(DONE_2 + timedelta(days=183, seconds=1), "P2")
    # P3 (18-24): accepted after 6 h, completed with no contact recorded and no outcome.
    p3 = r.referral(at(1, 12, 9), "P3", age=20)
    r.offer(p3, "mentoring", at(1, 12, 10), S.COMPLETED, accepted_at=at(1, 12, 16),
            closed_at=at(3, 1))  # fmt: skip
    # P4: declined 15 Jan 12:00, referred again 1 Mar.
    p4 = r.referral(at(1, 15, 9), "P4")
    r.offer(
        p4, "mentoring", at(1, 15, 10), S.DECLINED, closed_at=at(1, 15, 12), reason="no-capacity"
    )
    r.referral(at(3, 1), "P4")
    # P5: referred twice on 1 Feb, both offers unanswered (one person, two offers).
    p5a = r.referral(at(2, 1, 9), "P5")
    p5b = r.referral(at(2, 1, 9) + h / 2, "P5")
    r.offer(p5a, "mentoring", at(2, 1, 10))
    r.offer(p5b, "mentoring", at(2, 1, 10) + h / 12)
    # P6: accepted after 8 h, never contacted; referred twice on 1 Apr (counted once).
    p6 = r.referral(at(2, 5, 9), "P6")
    r.offer(p6, "mentoring", at(2, 5, 10), S.ACCEPTED, accepted_at=at(2, 5, 18))
    r.referral(at(4, 1, 9), "P6")
    r.referral(at(4, 1, 15), "P6")
    # P7: in progress, contact after 72 h: engaged with it, not completed.
    p7 = r.referral(at(2, 10, 9), "P7")
    r.offer(p7, "mentoring", at(2, 10, 10), S.IN_PROGRESS, accepted_at=at(2, 10, 20),
            first_contact_at=at(2, 13, 10))  # fmt: skip
    # P8 (25+): declined.
    p8 = r.referral(at(3, 20, 9), "P8", age=30)
    r.offer(
        p8, "mentoring", at(3, 20, 10), S.DECLINED, closed_at=at(3, 20, 11), reason="not-eligible"
    )
    # Stratum B. P9: offered in December, completed 10 Mar (engaged, not in Q1's funnel).
    p9 = r.referral(at(12, 20, 9, year=2025), "P9", age=12, reason="gang")
    december = at(12, 20, 10, year=2025)
    r.offer(p9, "mentoring", december, S.COMPLETED, accepted_at=december + h,
            closed_at=at(3, 10), outcome="partly-met")  # fmt: skip
    p10 = r.referral(at(3, 5, 9), "P10", age=13, reason="gang")
    r.offer(
        p10, "mentoring", at(3, 5, 10), S.DECLINED, closed_at=at(3, 5, 11), reason="no-capacity"
    )
    r.referral(at(5, 1), "P10")
    p11 = r.referral(at(3, 15, 9), "P11", age=10, reason="gang")
    r.offer(p11, "mentoring", at(3, 15, 10), S.CANCELLED)
    # A year before: one declined offer.
    old = r.referral(at(2, 1, 9, year=2025), "P0")
    r.offer(old, "mentoring", at(2, 1, 10, year=2025), S.DECLINED, closed_at=at(2, 2, year=2025))
    # Sports: two offers, no completions (S1 declined, S2 waiting), both re-referred.
    s1 = r.referral(at(1, 20, 9), "S1")
    r.offer(s1, "sports", at(1, 20, 10), S.DECLINED, closed_at=at(1, 21), reason="no-capacity")
    s2 = r.referral(at(1, 22, 9), "S2")
    r.offer(s2, "sports", at(1, 22, 10))
    r.referral(at(2, 22), "S1")
    await r.write(db)


async def evaluate(
    db: Database, config: RoutingConfiguration, **kw: object
) -> dict[str, InterventionEvaluation]:
    """The evaluation of every intervention, by id."""
    async with reading(db) as unit:
        found = await evaluation(unit, config, **kw)  # type: ignore[arg-type]
    return {e.intervention: e for e in found}


async def test_funnel_declines_outcomes_and_times(db: Database) -> None:
    await mentoring(db)
    found = await evaluate(db, partnership(), start=Q1[0], end=Q1[1], as_of=LATER)
    assert list(found) == ["svc", "mentoring", "sports", "quiet"]
    m = found["mentoring"].current
    assert m.period == Period(*Q1)
    # Offers made in Q1: P1 P2 P3 completed; P7 in contact; P6 accepted; P5 (twice) and
    # P11 no response; P2's first, P4, P8, P10 declined. P9's offer came in December.
    assert m.funnel.stages() == (3, 1, 1, 3, 4)
    assert (m.funnel.offered, m.funnel.accepted, m.funnel.first_contact) == (12, 5, 4)
    assert m.declines == {"no-capacity": 3, "not-eligible": 1}
    assert m.outcomes == {"goals-met": 2, "none": 1}
    # Acceptance after 2, 4, 6, 8, 10 h: median rank 3 (6 h), 90th rank ceil(4.5) = 5.
    assert m.to_acceptance.n == 5
    assert m.to_acceptance.median_hours == pytest.approx(6.0)
    assert m.to_acceptance.p90_hours == pytest.approx(10.0)
    # First contact after 24, 48, 72 h: median rank 2, 90th rank ceil(2.7) = 3.
    assert m.to_contact.n == 3
    assert m.to_contact.median_hours == pytest.approx(48.0)
    assert m.to_contact.p90_hours == pytest.approx(72.0)
    # The same dates a year before: one declined offer, with no reason given.
    assert found["mentoring"].previous_kind == "year-before"
    assert found["mentoring"].previous.period == Period(date(2025, 1, 1), date(2025, 3, 31))
    assert found["mentoring"].previous.funnel.stages() == (0, 0, 0, 0, 1)
    assert found["mentoring"].previous.declines == {"none": 1}
    # An intervention with no offers: an empty funnel, no times.
    quiet = found["quiet"].current
    assert quiet.funnel.offered == 0
    assert quiet.to_acceptance.median_hours is None and quiet.to_contact.p90_hours is None
    assert quiet.declines == {} and quiet.outcomes == {}


async def test_re_referral_within_6_and_12_months_against_the_matched_comparison(
    db: Database,
) -> None:
    await mentoring(db)
    found = await evaluate(db, partnership(), start=Q1[0], end=Q1[1], as_of=LATER)
    six, twelve = found["mentoring"].current.re_referral
    assert (six.months, six.days, twelve.months, twelve.days) == (6, 183, 12, 365)
    # Engaged (matched): P1 again at exactly 183 days (counts), P2 at 183 days + 1 s (only
    # in 12 months), P9 never. P3 has no comparison in its stratum.
    assert (six.engaged.people, six.engaged.re_referred) == (3, 1)
    assert six.engaged.proportion == pytest.approx(1 / 3)
    assert six.engaged.interval == wilson(1 / 3, 3)
    assert (twelve.engaged.people, twelve.engaged.re_referred) == (3, 2)
    # Comparison: A (weight 2/3 each): P4 and P6 again (P6 twice on one day, once), P5 not;
    # B (weight 1/2): P10 again, P11 not. P2 declined too, but engaged; P8 has no match.
    assert (six.comparison.people, six.comparison.re_referred) == (5, 3)
    assert six.comparison.proportion == pytest.approx((2 * 2 / 3 + 1 * 1 / 2) / 3)  # 11/18
    # Kish: (sum w)^2 / sum w^2 = 3^2 / (3 (2/3)^2 + 2 (1/2)^2) = 54/11.
    assert six.comparison.effective_size == pytest.approx(54 / 11)
    assert six.comparison.interval is not None
    expected = wilson(11 / 18, 54 / 11)
    assert expected is not None
    assert six.comparison.interval.low == pytest.approx(expected.low)
    assert six.comparison.interval.high == pytest.approx(expected.high)
    assert twelve.comparison.proportion == pytest.approx(11 / 18)
    assert six.strata == 2
    assert (six.engaged_cohort.matched, six.engaged_cohort.unmatched) == (3, 1)
    assert (six.comparison_cohort.matched, six.comparison_cohort.unmatched) == (5, 1)
    assert six.engaged_cohort.too_recent == six.comparison_cohort.too_recent == 0


async def test_only_people_whose_whole_window_has_passed_are_compared(db: Database) -> None:
    await mentoring(db)
    # 1 Sep 2026: a 6-month window has passed for an index up to 2 Mar, a 12-month for none.
    soon = datetime(2026, 9, 1, tzinfo=UTC)
    found = await evaluate(db, partnership(), start=Q1[0], end=Q1[1], as_of=soon)
    six, twelve = found["mentoring"].current.re_referral
    # P9 (10 Mar) is too recent, so stratum B has no engaged person left; P3 still unmatched.
    assert (six.engaged.people, six.engaged.re_referred) == (2, 1)
    assert (six.comparison.people, six.comparison.re_referred) == (3, 2)
    assert six.comparison.effective_size == pytest.approx(3.0)
    assert six.strata == 1
    assert six.engaged_cohort == Cohort(2, 1, 1)
    # P8 (20 Mar), P10 (5 Mar) and P11 (15 Mar) too recent.
    assert six.comparison_cohort == Cohort(3, 0, 3)
    assert twelve.engaged.people == twelve.comparison.people == 0
    assert twelve.engaged.proportion is None and twelve.comparison.interval is None
    assert (twelve.engaged_cohort.too_recent, twelve.comparison_cohort.too_recent) == (4, 6)


async def test_an_intervention_with_no_completions(db: Database) -> None:
    await mentoring(db)
    found = await evaluate(db, partnership(), start=Q1[0], end=Q1[1], as_of=LATER)
    sports = found["sports"].current
    assert sports.funnel.stages() == (0, 0, 0, 1, 1)
    assert sports.outcomes == {}
    for window in sports.re_referral:
        assert window.engaged.people == 0 and window.engaged.proportion is None
        assert window.comparison.people == 0 and window.comparison.proportion is None
        assert window.strata == 0
        # S1 and S2 had nobody engaged to be compared with.
        assert window.comparison_cohort.unmatched == 2


async def test_a_pilot_is_compared_with_the_same_length_before_it(db: Database) -> None:
    await mentoring(db)
    config = partnership(pilot_start="2026-02-01", pilot_end="2026-02-28")
    found = await evaluate(db, config, as_of=LATER, only="mentoring")
    assert list(found) == ["mentoring"]
    m = found["mentoring"]
    assert m.pilot == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert m.previous_kind == "before-pilot"
    assert m.current.period == m.pilot
    assert m.previous.period == Period(date(2026, 1, 4), date(2026, 1, 31))
    # February: P5 twice, P6, P7. The 28 days before: P1, P2 (its second), P3, P4.
    assert m.current.funnel.stages() == (0, 1, 1, 2, 0)
    assert m.previous.funnel.stages() == (3, 0, 0, 0, 1)
    # Completed in February: P1 and P2 (engaged); declined in... nobody offered in February
    # declined, so the comparison (P5, P6) is matched with P1 and P2 in stratum A.
    six = m.current.re_referral[0]
    assert (six.engaged.people, six.comparison.people) == (2, 2)


async def test_the_tables_of_counts_add_up_to_what_the_evaluation_shows(db: Database) -> None:
    await mentoring(db)
    found = await evaluate(db, partnership(), start=Q1[0], end=Q1[1], as_of=LATER)
    tables = {t.key: t for t in found["mentoring"].count_tables()}
    assert tables["current-funnel"].cells == ((3, 1, 1, 3, 4),)
    assert tables["current-declines"].cells == ((3, 1),)
    assert tables["current-re-referral-6m"].cells == ((1, 2), (3, 2))
    assert tables["current-cohort-12m"].cells == ((3, 1, 0), (5, 1, 0))
    assert tables["previous-funnel"].cells == ((0, 0, 0, 0, 1),)
    for t in tables.values():
        assert all(len(row) == len(t.columns) for row in t.cells)
        assert len(t.cells) == len(t.rows)


async def test_a_period_must_have_both_ends(db: Database) -> None:
    async with reading(db) as unit:
        with pytest.raises(ValueError, match="both"):
            await evaluation(unit, partnership(), start=Q1[0])


async def test_percentiles_in_the_database_are_the_nearest_rank(db: Database) -> None:
    # Intervention k has k offers accepted after whole-minute delays drawn at random (with
    # ties); the database's median and 90th percentile are the pure function's.
    draw = random.Random(28)
    r = EvidenceRows()
    delays: dict[str, list[float]] = {}
    for k in range(1, 13):
        name = f"i{k}"
        delays[name] = [draw.randrange(0, 600) / 60 for _ in range(k)]
        for hours in delays[name]:
            rid = r.referral(at(1, 2), None)
            r.offer(
                rid, name, at(1, 2, 1), S.ACCEPTED, accepted_at=at(1, 2, 1) + timedelta(hours=hours)
            )
    await r.write(db)
    start, end = Period(*Q1).bounds()
    async with reading(db) as unit:
        found = await spreads(unit, start, end, "accepted")
    for name, values in delays.items():
        assert found[name].n == len(values)
        assert found[name].median_hours == pytest.approx(percentile(values, 50))
        assert found[name].p90_hours == pytest.approx(percentile(values, 90))
