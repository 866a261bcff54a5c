"""`vrp demo seed [--seed N]`: two years of fictional history for the demo partnership, so the
dashboard, `vrp status` and the hub show what they are for before anyone has referred."""

from __future__ import annotations

import argparse
import sys

from services.commands.resources import resources
from services.history.seed import SeedRefused, describe, seed
from vrp.demo_configuration import is_demo_configuration
from vrp.demo_geography import load_demo_denominators
from vrp.settings import Settings, TransportKind
from vrp.store.migrate import upgrade

HELP = "the demo partnership: seed two years of fictional history"
DEFAULT_SEED = 1


async def load_demo_geography(settings: Settings) -> None:
    """With the packaged demo partnership, load the demo's population and deprivation
    extracts into whichever of those tables is empty (migrated first when embedded, as
    `vrp up` would); any other partnership loads its own files."""
    if not is_demo_configuration(settings):
        return
    async with resources(settings) as r:
        if r.settings.transport is TransportKind.EMBEDDED:
            await upgrade(r.db)
        loaded = await load_demo_denominators(r.db)
    print(loaded.describe(), flush=True)


async def seed_history(
    settings: Settings, seed_value: int = DEFAULT_SEED, seeded_is_fine: bool = False
) -> int:
    """Seed the settings' database (migrated first when embedded, as `vrp up` would);
    prints what was written, or why nothing was (exit 1; 0 for a database seeded before
    when `seeded_is_fine`, as `vrp up --demo-history` restarted is)."""
    async with resources(settings) as r:
        if r.settings.transport is TransportKind.EMBEDDED:
            await upgrade(r.db)
        try:
            seeded = await seed(
                r.db,
                r.config(),
                r.settings.pseudonym_key.get_secret_value().encode(),
                seed_value,
            )
        except SeedRefused as refused:
            if refused.seeded_before and seeded_is_fine:
                print("demo history: seeded before; serving it as it is", flush=True)
                return 0
            print(f"vrp demo seed: {refused}", file=sys.stderr)
            return 1
    print(describe(seeded), flush=True)
    await load_demo_geography(settings)
    return 0


async def cmd_seed(args: argparse.Namespace) -> int:
    """Write two years of fictional referrals, decisions, responses and outcomes (demo only)."""
    return await seed_history(Settings(), args.seed)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp demo ...`."""
    demo = sub.add_parser("demo", help=HELP)
    cmds = demo.add_subparsers(dest="demo_cmd", required=True)
    s = cmds.add_parser("seed", help=cmd_seed.__doc__)
    s.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed: the same seed on the same day writes the same history "
        f"(default {DEFAULT_SEED})",
    )
    s.set_defaults(fn=run_async(cmd_seed))  # type: ignore[operator]
