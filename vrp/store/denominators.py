"""The needs assessment's denominators: the ONS mid-year population estimates and the
Index of Multiple Deprivation by LSOA, loaded from the published files
(`vrp geography population`, `vrp geography deprivation`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain import published_files
from vrp.domain.published_files import Tally
from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, populations

BATCH = 5_000
"""Rows per insert statement."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a load wrote: rows, cells skipped (blank or suppressed), and the years."""

    rows: int
    skipped: int
    years: tuple[int, ...] = ()


def _open(path: Path) -> TextIO:
    # Codes and counts are ASCII; a name in another encoding must not stop the load.
    return path.open(encoding="utf-8-sig", errors="replace", newline="")


async def _insert_all(
    conn: AsyncConnection,
    table: Any,
    rows: Iterable[dict[str, Any]],
    before: Callable[[list[dict[str, Any]]], Any] | None = None,
) -> int:
    """Insert the rows in batches; `before(batch)` runs (awaited) ahead of each batch."""
    count, pending = 0, []
    for row in rows:
        pending.append(row)
        if len(pending) >= BATCH:
            count += await _flush(conn, table, pending, before)
    return count + await _flush(conn, table, pending, before)


async def _flush(
    conn: AsyncConnection,
    table: Any,
    pending: list[dict[str, Any]],
    before: Callable[[list[dict[str, Any]]], Any] | None,
) -> int:
    if not pending:
        return 0
    if before is not None:
        await before(pending)
    await conn.execute(insert(table), pending)
    n = len(pending)
    pending.clear()
    return n


async def load_populations(db: Database, path: Path) -> Loaded:
    """Load every year of a mid-year estimates file (long format), in one transaction: the
    years it holds replace those years' figures; other years stay."""
    tally = Tally()
    years: set[int] = set()
    with _open(path) as stream:
        async with db.transaction() as conn:

            async def replace_years(batch: list[dict[str, Any]]) -> None:
                new = {r["year"] for r in batch} - years
                if new:
                    await conn.execute(delete(populations).where(populations.c.year.in_(new)))
                    years.update(new)

            rows = _population_rows(published_files.populations(stream, tally))
            count = await _insert_all(conn, populations, rows, replace_years)
    return Loaded(count, tally.skipped, tuple(sorted(years)))


def _population_rows(found: Iterator[published_files.Population]) -> Iterator[dict[str, Any]]:
    for p in found:
        yield {
            "local_authority": p.local_authority,
            "year": p.year,
            "sex": p.sex,
            "age": p.age,
            "population": p.population,
        }


async def load_deprivation(db: Database, path: Path) -> Loaded:
    """Replace the deprivation table with File 7 of the English Indices of Deprivation
    (each LSOA's IMD decile and population), in one transaction."""
    tally = Tally()
    with _open(path) as stream:
        async with db.transaction() as conn:
            await conn.execute(delete(deprivation))
            rows = (
                {
                    "lsoa": d.lsoa,
                    "local_authority": d.local_authority,
                    "decile": d.decile,
                    "population": d.population,
                }
                for d in published_files.deprivation(stream, tally)
            )
            count = await _insert_all(conn, deprivation, rows)
    return Loaded(count, tally.skipped)


@dataclass(frozen=True, slots=True)
class Held:
    """How many denominator rows the database holds."""

    populations: int
    deprivation: int
    years: tuple[int, ...]


async def held(db: Database) -> Held:
    """What is loaded: row counts and the population years."""
    async with db.engine.connect() as conn:
        people = await conn.scalar(select(func.count()).select_from(populations))
        lsoas = await conn.scalar(select(func.count()).select_from(deprivation))
        years = (await conn.scalars(select(populations.c.year).distinct())).all()
        await conn.rollback()
    return Held(int(people or 0), int(lsoas or 0), tuple(sorted(int(y) for y in years)))
