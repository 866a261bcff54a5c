"""Postcode -> local authority: the loaded ONS Postcode Directory, else the built-in
West Midlands table (the demo default)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain import published_files
from vrp.domain.geography import area_for
from vrp.domain.published_files import FileFormatError, PostcodeArea, Tally
from vrp.store.database import Database
from vrp.store.tables import postcode_areas
from vrp.store.unit import Unit


class DirectoryError(ValueError):
    """The file is not an ONS Postcode Directory extract we can read."""


async def area_of(unit: Unit, postcode: str) -> str | None:
    """The postcode's local authority: from the loaded directory if there is one (None
    when it lacks the postcode), else from the built-in West Midlands table."""
    found = await unit.conn.scalar(
        select(postcode_areas.c.local_authority).where(postcode_areas.c.postcode == postcode)
    )
    if found is not None:
        return str(found)
    if await unit.conn.scalar(select(exists().select_from(postcode_areas))):
        return None
    return area_for(postcode)


class Areas:
    """Postcode -> local authority for a stream of submissions, with the directory's answers
    kept in memory: a lookup costs no database round trip unless the postcode is new.

    What it remembers (whether a directory is loaded, and each postcode's answer) is
    forgotten every `refresh_seconds`, so a directory that `vrp geography load` replaces in
    another process is in force here within that time."""

    def __init__(
        self,
        db: Database,
        refresh_seconds: float = 30.0,
        size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._refresh = refresh_seconds
        self._size = size
        self._clock = clock
        self._loaded: bool | None = None  # None: not known since the last refresh
        self._known: dict[str, str | None] = {}
        self._since = 0.0

    async def area_of(self, postcode: str) -> str | None:
        """As `area_of`, answered from memory when this postcode was looked up lately."""
        now = self._clock()
        if now - self._since >= self._refresh:
            self._loaded, self._known, self._since = None, {}, now
        if self._loaded is False:
            return area_for(postcode)
        if postcode in self._known:
            return self._known[postcode]
        async with self._db.engine.connect() as conn:
            found = await conn.scalar(
                select(postcode_areas.c.local_authority).where(
                    postcode_areas.c.postcode == postcode
                )
            )
            if found is None and self._loaded is None:
                self._loaded = bool(await conn.scalar(select(exists().select_from(postcode_areas))))
            await conn.rollback()
        if found is not None:
            self._loaded = True
        if not self._loaded:
            return area_for(postcode)
        if len(self._known) >= self._size:
            self._known.clear()  # a flood of distinct postcodes must not grow memory
        self._known[postcode] = None if found is None else str(found)
        return self._known[postcode]


def read_directory(stream: TextIO, tally: Tally | None = None) -> Iterator[PostcodeArea]:
    """Each live postcode of an ONSPD extract (`vrp.domain.published_files.postcode_areas`):
    terminated ones (doterm) and rows without a local authority code are skipped."""
    try:
        yield from published_files.postcode_areas(stream, tally)
    except FileFormatError as exc:
        raise DirectoryError(str(exc)) from None


async def load_directory(db: Database, path: Path, batch: int = 5_000) -> int:
    """Replace the postcode directory with the file's (each postcode's local authority and
    LSOA), in one transaction; the count."""
    count = 0
    with path.open(encoding="utf-8-sig", newline="") as stream:
        async with db.transaction() as conn:
            await conn.execute(delete(postcode_areas))
            rows: dict[str, PostcodeArea] = {}
            for row in read_directory(stream):
                rows[row.postcode] = row
                if len(rows) >= batch:
                    count += await _insert(conn, rows)
            count += await _insert(conn, rows)
    return count


async def _insert(conn: AsyncConnection, rows: dict[str, PostcodeArea]) -> int:
    if not rows:
        return 0
    values = [
        {"postcode": r.postcode, "local_authority": r.local_authority, "lsoa": r.lsoa}
        for r in rows.values()
    ]
    await conn.execute(insert(postcode_areas), values)
    n = len(rows)
    rows.clear()
    return n
