"""The needs assessment's aggregates in SQL: referrals by area, age band, sex and month;
by deprivation decile; and the population denominators (ONS mid-year estimates by area,
year, sex and age band; IMD decile populations)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select

from vrp.domain.evidence.bands import UNKNOWN
from vrp.store.evidence_offers import age_band
from vrp.store.evidence_tables import deprivation, populations, referral_facts
from vrp.store.unit import Unit

_f = referral_facts.c
_p = populations.c
_d = deprivation.c


@dataclass(frozen=True, slots=True)
class Cell:
    """Referrals of one area, age band, sex and month."""

    area: str | None
    band: str
    sex: str
    month: str
    count: int


def _period(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Referred in [start, end); the months too (a day wider each side, whatever clock
    wrote them), so that the month index narrows the scan."""
    first, last = start - timedelta(days=1), end + timedelta(days=1)
    return and_(
        _f.month >= f"{first:%Y-%m}",
        _f.month <= f"{last:%Y-%m}",
        _f.referred_at >= start,
        _f.referred_at < end,
    )


async def cells(unit: Unit, start: datetime, end: datetime) -> list[Cell]:
    """Referrals made in [start, end) by area, age band, sex and month (one row for each
    combination that has any)."""
    band = age_band(_f.age).label("band")
    sex = func.coalesce(_f.sex, UNKNOWN).label("sex_code")
    rows = await unit.conn.execute(
        select(_f.local_authority, band, sex, _f.month, func.count())
        .where(_period(start, end))
        .group_by(_f.local_authority, band, sex, _f.month)
    )
    return [Cell(*row) for row in rows]


async def areas_referred(unit: Unit, start: datetime, end: datetime) -> tuple[str, ...]:
    """The local authorities referrals in [start, end) came from (sorted)."""
    rows = await unit.conn.execute(
        select(_f.local_authority)
        .where(_period(start, end), _f.local_authority.is_not(None))
        .group_by(_f.local_authority)
        .order_by(_f.local_authority)
    )
    return tuple(r[0] for r in rows)


@dataclass(frozen=True, slots=True)
class Populations:
    """Residents by (area, year, sex, age band), summed from single years of age."""

    counts: dict[tuple[str, int, str, str], int]

    def years(self) -> tuple[int, ...]:
        """The years loaded, in order."""
        return tuple(sorted({k[1] for k in self.counts}))

    def year_for(self, year: int) -> int | None:
        """The latest year loaded on or before `year`."""
        earlier = [y for y in self.years() if y <= year]
        return earlier[-1] if earlier else None

    def total(
        self,
        year: int,
        areas: Sequence[str],
        sex: str | None = None,
        band: str | None = None,
    ) -> int | None:
        """Residents of the areas in the latest year loaded on or before `year`, of one sex
        and one age band when given; None when no year that early is loaded."""
        loaded = self.year_for(year)
        if loaded is None:
            return None
        wanted = set(areas)
        return sum(
            n
            for (a, y, s, b), n in self.counts.items()
            if y == loaded and a in wanted and sex in (None, s) and band in (None, b)
        )


async def population(unit: Unit, areas: Sequence[str]) -> Populations:
    """The population estimates of the areas, by year, sex and age band."""
    band = age_band(_p.age).label("band")
    rows = await unit.conn.execute(
        select(_p.local_authority, _p.year, _p.sex, band, func.sum(_p.population))
        .where(_p.local_authority.in_(list(areas)))
        .group_by(_p.local_authority, _p.year, _p.sex, band)
    )
    return Populations({(a, y, s, b): int(n) for a, y, s, b, n in rows})


async def deciles(
    unit: Unit, start: datetime, end: datetime, areas: Sequence[str]
) -> tuple[dict[int, int], int]:
    """Referrals in [start, end) by the IMD decile of their LSOA, counting only LSOAs of
    the areas; and how many referrals in the period there were in all."""
    rows = await unit.conn.execute(
        select(_d.decile, func.count())
        .join_from(referral_facts, deprivation, _d.lsoa == _f.lsoa)
        .where(_period(start, end), _d.local_authority.in_(list(areas)))
        .group_by(_d.decile)
    )
    by_decile = {int(d): int(n) for d, n in rows}
    total = await unit.conn.scalar(
        select(func.count()).select_from(referral_facts).where(_period(start, end))
    )
    return by_decile, int(total or 0)


async def decile_populations(unit: Unit, areas: Sequence[str]) -> dict[int, int]:
    """Residents of the areas' LSOAs by IMD decile."""
    rows = await unit.conn.execute(
        select(_d.decile, func.sum(_d.population))
        .where(_d.local_authority.in_(list(areas)))
        .group_by(_d.decile)
    )
    return {int(d): int(n) for d, n in rows}


def by_key(items: Sequence[Cell], key: str) -> dict[tuple[str, str], int]:
    """Cells summed by one dimension (`area`, `band` or `sex`) and month."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for c in items:
        out[(str(getattr(c, key)), c.month)] += c.count
    return out
