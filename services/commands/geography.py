"""`vrp geography load FILE`: load an ONS Postcode Directory extract into the database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.commands.resources import resources
from vrp.settings import TransportKind
from vrp.store.geography import DirectoryError, load_directory


async def cmd_load(args: argparse.Namespace) -> int:
    """Replace the postcode directory with an ONSPD CSV extract (pcds and oslaua or
    ladYYcd columns); from then on intake derives areas from it, not the built-in table."""
    try:
        async with resources() as r:
            if r.settings.transport is TransportKind.EMBEDDED:
                from vrp.store.migrate import upgrade

                await upgrade(r.db)
            count = await load_directory(r.db, Path(args.file))
    except (OSError, DirectoryError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {count} live postcodes; areas are now derived from this directory")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp geography ...`."""
    geo = sub.add_parser("geography", help="postcode directory (areas)")
    cmds = geo.add_subparsers(dest="geo_cmd", required=True)
    load = cmds.add_parser("load", help=cmd_load.__doc__)
    load.add_argument("file", help="ONS Postcode Directory CSV (or an extract of it)")
    load.set_defaults(fn=run_async(cmd_load))  # type: ignore[operator]
