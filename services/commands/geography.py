"""`vrp geography load|population|deprivation FILE`: load the published geography files
(ONS Postcode Directory, ONS mid-year population estimates, English Indices of
Deprivation File 7) into the database, as released."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from services.commands.resources import resources
from vrp.domain.published_files import FileFormatError
from vrp.settings import TransportKind
from vrp.store.database import Database
from vrp.store.denominators import Loaded, load_deprivation, load_populations
from vrp.store.geography import DirectoryError, load_directory

T = TypeVar("T")


async def _load(file: str, load: Callable[[Database, Path], Awaitable[T]]) -> T | None:
    """Run one loader on the settings' database (migrated first when embedded); None, with
    the reason on stderr, when the file cannot be read as the published file."""
    try:
        async with resources() as r:
            if r.settings.transport is TransportKind.EMBEDDED:
                from vrp.store.migrate import upgrade

                await upgrade(r.db)
            return await load(r.db, Path(file))
    except (OSError, DirectoryError, FileFormatError) as exc:
        print(f"error: {file}: {exc}", file=sys.stderr)
        return None


async def cmd_load(args: argparse.Namespace) -> int:
    """Replace the postcode directory with an ONSPD CSV extract (pcds and oslaua or
    ladYYcd columns; the LSOA from lsoa21, else lsoa11); from then on intake derives areas
    from it, not the built-in table."""
    count = await _load(args.file, load_directory)
    if count is None:
        return 1
    print(f"loaded {count} live postcodes; areas are now derived from this directory")
    return 0


def _skipped(loaded: Loaded, what: str) -> str:
    return f" ({loaded.skipped} {what} blank or suppressed, skipped)" if loaded.skipped else ""


async def cmd_population(args: argparse.Namespace) -> int:
    """Load the ONS mid-year population estimates (long format: ladcodeYY, sex 1/2, age
    0-90, one population_YYYY column per year); each year in the file replaces that year."""
    loaded = await _load(args.file, load_populations)
    if loaded is None:
        return 1
    years = ", ".join(str(y) for y in loaded.years) or "none"
    print(f"loaded {loaded.rows} population figures for {years}{_skipped(loaded, 'figures')}")
    return 0


async def cmd_deprivation(args: argparse.Namespace) -> int:
    """Replace the LSOAs' deprivation deciles with File 7 of the English Indices of
    Deprivation (LSOA code, Local Authority District code, the IMD decile and the total
    population excluding prisoners)."""
    loaded = await _load(args.file, load_deprivation)
    if loaded is None:
        return 1
    print(f"loaded {loaded.rows} LSOAs' deprivation deciles{_skipped(loaded, 'LSOAs')}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp geography ...`."""
    geo = sub.add_parser("geography", help="postcode directory (areas), populations, deprivation")
    cmds = geo.add_subparsers(dest="geo_cmd", required=True)
    for name, fn, what in (
        ("load", cmd_load, "ONS Postcode Directory CSV (or an extract of it)"),
        ("population", cmd_population, "ONS mid-year population estimates CSV (long format)"),
        ("deprivation", cmd_deprivation, "English Indices of Deprivation File 7 CSV"),
    ):
        p = cmds.add_parser(name, help=fn.__doc__)
        p.add_argument("file", help=what)
        p.set_defaults(fn=run_async(fn))  # type: ignore[operator]
