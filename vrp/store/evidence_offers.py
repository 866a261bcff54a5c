"""The evaluation's aggregates over offers, in SQL: the funnel, declines and outcomes by
code, nearest-rank times, and re-referral counts per matching stratum. Each query returns
one row per intervention and group, rank or stratum, never one per referral."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from vrp.domain.evidence.bands import AGE_BANDS, BAND_AGES, UNKNOWN
from vrp.domain.evidence.matching import Stratum, StratumCounts
from vrp.domain.evidence.percentiles import nearest_rank
from vrp.domain.evidence.results import Spread
from vrp.domain.lifecycle import RecipientState as S
from vrp.store.columns import Time
from vrp.store.evidence_tables import referral_facts
from vrp.store.tables import received_referrals
from vrp.store.unit import Unit

_o = received_referrals.c
_f = referral_facts.c
WINDOWS = (183, 365)
"""Re-referral windows in days: 6 months and 12 months."""
PERCENTILES = (50, 90)


def seconds_between(unit: Unit, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Seconds from `earlier` to `later`, in SQL (SQLite: to the millisecond)."""
    if unit.db.is_sqlite:
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later) - func.extract("epoch", earlier)


def milliseconds_between(unit: Unit, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Milliseconds from `earlier` to `later` (NULL if either is), exact on PostgreSQL and
    rounded to the millisecond on SQLite, so that exactly N days later compares equal."""
    if unit.db.is_sqlite:
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000.0)
    return (func.extract("epoch", later) - func.extract("epoch", earlier)) * 1000


def age_band(age: Any) -> ColumnElement[str]:
    """The age band of an age column (vrp.domain.evidence.bands), in SQL."""
    whens = [(age <= BAND_AGES[b][1], literal(b)) for b in AGE_BANDS[:-1]]
    return case((age.is_(None), literal(UNKNOWN)), *whens, else_=literal(AGE_BANDS[-1]))


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _offers(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(_o.kind == "offer", _in(_o.received_at, start, end))


@dataclass
class OfferCounts:
    """One intervention's offers in a period: by furthest stage, declines by reason and
    completions by outcome (`none` where none was given)."""

    stages: dict[str, int] = field(default_factory=dict)
    declines: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)


async def offer_counts(unit: Unit, start: datetime, end: datetime) -> dict[str, OfferCounts]:
    """Offers made in [start, end) by intervention, furthest stage and code, in one query."""
    stage = case(
        (_o.status == S.COMPLETED, literal("completed")),
        (_o.status == S.DECLINED, literal("declined")),
        (_o.first_contact_at.is_not(None), literal("in-contact")),
        (
            or_(_o.accepted_at.is_not(None), _o.status.in_([S.ACCEPTED, S.IN_PROGRESS])),
            literal("accepted"),
        ),
        else_=literal("no-response"),
    ).label("stage")
    code = case(
        (_o.status == S.DECLINED, func.coalesce(_o.reason, "none")),
        (_o.status == S.COMPLETED, func.coalesce(_o.outcome, "none")),
        else_=literal(""),
    ).label("code")
    rows = await unit.conn.execute(
        select(_o.intervention, stage, code, func.count())
        .where(_offers(start, end))
        .group_by(_o.intervention, stage, code)
    )
    out: dict[str, OfferCounts] = defaultdict(OfferCounts)
    # Codes by count, most first, then by code: the order the tables show them in.
    for intervention, st, c, n in sorted(rows, key=lambda r: (r[0], -r[3], r[2])):
        counts = out[intervention]
        counts.stages[st] = counts.stages.get(st, 0) + n
        if st == "declined":
            counts.declines[c] = n
        elif st == "completed":
            counts.outcomes[c] = n
    return out


async def spreads(
    unit: Unit, start: datetime, end: datetime, event: Literal["accepted", "first-contact"]
) -> dict[str, Spread]:
    """Per intervention, hours from each offer made in [start, end) to its acceptance or
    its first contact: how many have the time, and the nearest-rank median and 90th
    percentile, picked by row number in the database."""
    time = _o.accepted_at if event == "accepted" else _o.first_contact_at
    value = seconds_between(unit, time, _o.received_at)
    ranked = (
        select(
            _o.intervention.label("intervention"),
            value.label("v"),
            func.row_number().over(partition_by=_o.intervention, order_by=value).label("rn"),
            func.count().over(partition_by=_o.intervention).label("n"),
        )
        .where(_offers(start, end), time.is_not(None))
        .subquery()
    )
    r = ranked.c
    # rank = ceil(p * n / 100) exactly when (rank - 1) * 100 < p * n <= rank * 100.
    wanted = or_(*(and_((r.rn - 1) * 100 < p * r.n, r.rn * 100 >= p * r.n) for p in PERCENTILES))
    rows = await unit.conn.execute(select(r.intervention, r.n, r.rn, r.v).where(wanted))
    found: dict[str, dict[int, float]] = defaultdict(dict)
    sizes: dict[str, int] = {}
    for intervention, n, rn, v in rows:
        sizes[intervention] = n
        found[intervention][rn] = float(v) / 3600.0
    return {
        i: Spread(
            n,
            found[i].get(nearest_rank(50, n)),
            found[i].get(nearest_rank(90, n)),
        )
        for i, n in sizes.items()
    }


@dataclass(frozen=True, slots=True)
class StratumRow:
    """One matching stratum of one group of one intervention: its people, those whose
    window has not yet passed, and those referred again, for each window."""

    people: int
    elapsed: tuple[int, ...]
    again: tuple[int, ...]


async def re_referrals(
    unit: Unit, start: datetime, end: datetime, as_of: datetime
) -> dict[str, dict[str, dict[Stratum, StratumRow]]]:
    """Re-referral counts by intervention, group (`engaged`, `comparison`) and stratum
    (age band, primary reason, local authority), for each of WINDOWS.

    ENGAGED: people with an offer completed (closed) in [start, end); index = their first
    such completion. COMPARISON: people offered the intervention in [start, end) who did
    not engage (declined, or no first contact and not completed) and are not ENGAGED;
    index = their first such offer's close (or its offer time if still open). A window
    has elapsed when index + days <= as_of; referred again = another referral of the same
    pseudonym with index < referred_at <= index + days."""
    engaged_offers = (
        select(
            _o.intervention.label("intervention"),
            _f.pseudonym.label("pseudonym"),
            _o.closed_at.label("idx"),
            _f.age.label("age"),
            _f.reason.label("reason"),
            _f.local_authority.label("la"),
            func.row_number()
            .over(
                partition_by=(_o.intervention, _f.pseudonym),
                order_by=(_o.closed_at, _o.referral_id),
            )
            .label("rn"),
        )
        .join_from(received_referrals, referral_facts, _f.referral_id == _o.referral_id)
        .where(
            _o.kind == "offer",
            _o.status == S.COMPLETED,
            _in(_o.closed_at, start, end),
            _f.pseudonym.is_not(None),
        )
        .cte("engaged_offers")
    )
    e = engaged_offers.c
    index = func.coalesce(_o.closed_at, _o.received_at)
    comparison_offers = (
        select(
            _o.intervention.label("intervention"),
            _f.pseudonym.label("pseudonym"),
            index.label("idx"),
            _f.age.label("age"),
            _f.reason.label("reason"),
            _f.local_authority.label("la"),
            func.row_number()
            .over(partition_by=(_o.intervention, _f.pseudonym), order_by=(index, _o.referral_id))
            .label("rn"),
        )
        .join_from(received_referrals, referral_facts, _f.referral_id == _o.referral_id)
        .where(
            _offers(start, end),
            _f.pseudonym.is_not(None),
            or_(
                _o.status == S.DECLINED,
                and_(_o.first_contact_at.is_(None), _o.status != S.COMPLETED),
            ),
            ~exists().where(e.intervention == _o.intervention, e.pseudonym == _f.pseudonym),
        )
        .cte("comparison_offers")
    )
    c = comparison_offers.c
    chosen = union_all(
        select(literal("engaged").label("grp"), e.intervention, e.pseudonym, e.idx, e.age)
        .add_columns(e.reason, e.la)
        .where(e.rn == 1),
        select(literal("comparison").label("grp"), c.intervention, c.pseudonym, c.idx, c.age)
        .add_columns(c.reason, c.la)
        .where(c.rn == 1),
    ).subquery("chosen")
    # Each person's next referral after the index: one index probe on (pseudonym,
    # referred_at) per person, whatever the windows.
    later = referral_facts.alias("later")
    following = (
        select(func.min(later.c.referred_at))
        .where(later.c.pseudonym == chosen.c.pseudonym, later.c.referred_at > chosen.c.idx)
        .scalar_subquery()
    )
    # Materialized: else PostgreSQL inlines it and looks the next referral up once for
    # each window that compares with it.
    people = (
        select(chosen, following.label("nxt"))
        .cte("people")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    p = people.c
    gap = milliseconds_between(unit, p.nxt, p.idx)
    counts: list[Any] = []
    for days in WINDOWS:
        elapsed = p.idx <= literal(as_of - timedelta(days=days), Time)
        counts.append(func.sum(case((elapsed, 1), else_=0)))
        within = gap <= literal(days * 86_400_000, BigInteger())
        counts.append(func.sum(case((and_(elapsed, within), 1), else_=0)))
    band = age_band(p.age).label("band")
    la = func.coalesce(p.la, UNKNOWN).label("la_code")
    rows = await unit.conn.execute(
        select(p.grp, p.intervention, band, p.reason, la, func.count(), *counts).group_by(
            p.grp, p.intervention, band, p.reason, la
        )
    )
    out: dict[str, dict[str, dict[Stratum, StratumRow]]] = defaultdict(lambda: defaultdict(dict))
    for grp, intervention, b, reason, area, n, *figures in rows:
        out[intervention][grp][(b, reason, area)] = StratumRow(
            n, tuple(int(x) for x in figures[0::2]), tuple(int(x) for x in figures[1::2])
        )
    return out


def strata_counts(
    rows: dict[str, dict[Stratum, StratumRow]], window: int
) -> dict[Stratum, StratumCounts]:
    """One window's counts per stratum, both groups side by side (the window's position
    in WINDOWS)."""
    engaged = rows.get("engaged", {})
    comparison = rows.get("comparison", {})
    out: dict[Stratum, StratumCounts] = {}
    for s in engaged.keys() | comparison.keys():
        e, c = engaged.get(s), comparison.get(s)
        out[s] = StratumCounts(
            e.elapsed[window] if e else 0,
            e.again[window] if e else 0,
            c.elapsed[window] if c else 0,
            c.again[window] if c else 0,
        )
    return out


def too_recent(rows: dict[Stratum, StratumRow], window: int) -> int:
    """People of one group whose window has not yet passed."""
    return sum(r.people - r.elapsed[window] for r in rows.values())
