"""Benchmark: `vrp rules simulate` over a large stored history (default 1,000,000 decisions).

    .venv/bin/python -m bench.simulate [--rows 1000000] [--database-url URL]

Builds the history once (cached in var/bench/), then times replaying it under the demo
configuration and under a changed one (an agreement suspended). Baseline in the same run:
streaming the same rows and parsing their facts without deciding. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bench.workload import REFERRERS, TODAY
from services.commands.simulate import simulate
from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.geography import AREAS
from vrp.domain.vocabulary import OVERRIDE_GROUNDS, REASONS, ConsentState, RiskLevel
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.tables import decisions

KEY = b"benchmark-key"


def random_facts(config: RoutingConfiguration, rng: random.Random, n: int) -> Facts:
    """Facts of one fictional referral."""
    org = config.organisation(rng.choice(REFERRERS))
    assert org is not None
    consent = rng.choice([ConsentState.GIVEN] * 4 + list(ConsentState))
    return Facts(
        referral_id=f"00000000-0000-7000-8000-{n:012d}",
        source_org=org.id,
        source_kind=org.kind,
        reasons=frozenset(rng.sample(sorted(REASONS), rng.randint(1, 2))),
        risk=rng.choice(list(RiskLevel)),
        age=rng.randint(9, 60),
        area=rng.choice([*sorted(AREAS), None]),
        consent=consent,
        override_ground=None
        if consent is ConsentState.GIVEN
        else rng.choice(sorted(OVERRIDE_GROUNDS)),
        requested=None,
        today=TODAY,
    )


async def build_history(db: Database, config: RoutingConfiguration, rows: int) -> None:
    """Store `rows` decisions (as the router would) unless they are there already."""
    await upgrade(db)
    async with db.engine.connect() as conn:
        have = (await conn.execute(select(func.count()).select_from(decisions))).scalar_one()
        await conn.rollback()
    if have == rows:
        return
    async with db.transaction() as conn:
        await conn.execute(decisions.delete())
    rng = random.Random(42)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, rows, 20_000):
        batch = []
        for n in range(start, min(rows, start + 20_000)):
            f = random_facts(config, rng, n)
            d = decide(f, config, KEY)
            batch.append(
                {
                    "referral_id": f.referral_id,
                    "event_id": f.referral_id,
                    "config_version": d.config_version,
                    "outcome": d.outcome,
                    "detail": {},
                    "facts": f.to_json(),
                    "chosen": " ".join(r.intervention for r in d.recipients),
                    "decided_at": now,
                }
            )
        async with db.transaction() as conn:
            await conn.execute(decisions.insert(), batch)
    print(f"built {rows:,} stored decisions in {time.perf_counter() - started:.0f}s")


async def stream_only(db: Database) -> int:
    """Baseline: read and parse every stored fact, decide nothing."""
    n = 0
    async with db.engine.connect() as conn:
        result = await conn.stream(
            select(decisions.c.outcome, decisions.c.chosen, decisions.c.facts).execution_options(
                yield_per=20_000
            )
        )
        async for rows in result.partitions(20_000):
            for _, _, facts in rows:
                Facts.from_json(facts)
                n += 1
        await conn.rollback()
    return n


async def main() -> None:
    """Run the benchmark and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    Path("var/bench").mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite+aiosqlite:///var/bench/simulate-{args.rows}.db"
    demo = load_configuration(DEMO_CONFIG_DIR)
    changed = RoutingConfiguration.model_validate(
        {
            **demo.model_dump(mode="json"),
            "agreements": [
                {**a, "status": "suspended"} if a["id"] == "isa-marac" else a
                for a in demo.model_dump(mode="json")["agreements"]
            ],
        }
    )
    db = Database(url)
    await build_history(db, demo, args.rows)
    timings: dict[str, list[float]] = {
        "stream+parse only": [],
        "simulate, same config": [],
        "simulate, MARAC ISA suspended": [],
    }
    reports = {}
    for _ in range(args.rounds):
        t = time.perf_counter()
        await stream_only(db)
        timings["stream+parse only"].append(time.perf_counter() - t)
        for name, config in (
            ("simulate, same config", demo),
            ("simulate, MARAC ISA suspended", changed),
        ):
            t = time.perf_counter()
            reports[name] = await simulate(db, config, KEY)
            timings[name].append(time.perf_counter() - t)
    await db.dispose()
    print(f"{args.rows:,} stored decisions in {url.split('://')[0]}; median of {args.rounds}")
    base = statistics.median(timings["stream+parse only"])
    for name, values in timings.items():
        m = statistics.median(values)
        print(f"  {name:<32} {m:6.1f}s  {args.rows / m:>10,.0f} rows/s  ({m / base:.2f}x baseline)")
    r = reports["simulate, MARAC ISA suspended"]
    print(
        f"  changed under the suspension: {r.changed:,}; same config changed: "
        f"{reports['simulate, same config'].changed:,}"
    )


if __name__ == "__main__":
    asyncio.run(main())
