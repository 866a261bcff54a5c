"""Benchmark: the evidence measures over a million generated referrals on PostgreSQL.

    .venv/bin/python -m bench.evidence [--referrals 1000000] [--runs 20] [--reuse]

Loads a fresh database (vrp_bench_evidence; or the one --database-url names, whose
evidence tables are emptied) with generated referrals' coded facts, their offers (accepted,
first contact, completed or declined, outcomes), people referred again, populations and
deprivation deciles (bench/evidence_data.py, COPY through asyncpg). Then times, in one run
and interleaved so that a busy spell on the shared machine hits all alike:
  baseline     `SELECT local_authority, COUNT(*) FROM referral_facts GROUP BY 1`;
  evaluation   every intervention's evaluation over the last year (vrp/store/evidence.py);
  needs        the needs assessment over the last year;
each --runs times (p50 and p99 by nearest rank, and each as a ratio to the baseline's p50);
then each evidence page over HTTP through the intake app (the overview for the last
quarter and for last year, the first intervention's page, the quarterly report), signed
in as an analyst with the product's reuse of figures (console_evidence_fresh_seconds):
first a first visit (its first answer, 202 "being prepared" unless the background
preparation got there first, and the seconds until the figures show), then --runs times
each interleaved with the baseline; then the full export
of the two years of history (`vrp evidence export --records` as an analyst, CSV) once. A
figure whose runs take longer than --budget seconds (300) stops after three or more: the
JSON gives each figure's number of runs, and the machine's load average before and after.
Goals from issue 28: every evidence page p99 <= 2 s and the full export <= 60 s. Writes
bench/results/evidence-<time>.json with the command. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import databases
from bench import e2e_probe as probe
from bench.evidence_data import (
    DEPRIVATION_COLUMNS,
    FACT_COLUMNS,
    OFFER_COLUMNS,
    POPULATION_COLUMNS,
    Generator,
    end_of_data,
)
from bench.evidence_pages import pages, timed, within
from services.evidence_export.export import export
from services.evidence_export.files import Format
from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import Period
from vrp.domain.people import Role
from vrp.settings import Settings
from vrp.store import evidence, evidence_bulk
from vrp.store.accounts import Person
from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, populations, referral_facts
from vrp.store.migrate import upgrade
from vrp.store.tables import received_referrals
from vrp.store.unit import reading

DB_NAME = "vrp_bench_evidence"
GOALS = "every evidence page p99 <= 2 s; the full export <= 60 s (issue 28)"
PAGE_GOAL_S = 2.0
EXPORT_GOAL_S = 60.0


async def reused(referrals: int) -> Database | None:
    """vrp_bench_evidence as an earlier run left it, if it holds `referrals` referrals."""
    db = Database(databases.url(DB_NAME))
    try:
        count = await evidence_bulk.count(db)
    except Exception:  # noqa: BLE001 - no such database yet: load one
        await db.dispose()
        return None
    if count != referrals:
        await db.dispose()
        return None
    await upgrade(db)
    return db


async def fresh_database(url: str | None) -> Database:
    """The named database (migrated, evidence tables emptied) or a new vrp_bench_evidence."""
    if url is None:
        return await databases.recreated(DB_NAME)
    db = Database(url)
    await upgrade(db)
    await evidence_bulk.empty(db)
    return db


async def load(db: Database, config: RoutingConfiguration, referrals: int) -> dict[str, Any]:
    """Generate and COPY the evidence; how many rows of each and how long it took."""
    started = time.perf_counter()
    end = end_of_data()
    gen = Generator(config, end, days=730, seed=28)
    facts = offers = 0
    for chunk in gen.chunks(referrals):
        await evidence_bulk.copy(db, referral_facts, FACT_COLUMNS, chunk.facts)
        await evidence_bulk.copy(db, received_referrals, OFFER_COLUMNS, chunk.offers)
        facts += len(chunk.facts)
        offers += len(chunk.offers)
    pops = gen.populations(range(end.year - 3, end.year + 1))
    await evidence_bulk.copy(db, populations, POPULATION_COLUMNS, pops)
    deciles = gen.deprivation()
    await evidence_bulk.copy(db, deprivation, DEPRIVATION_COLUMNS, deciles)
    await evidence_bulk.analyze(db)
    return {
        "referrals": facts,
        "offers": offers,
        "population_rows": len(pops),
        "lsoas": len(deciles),
        "load_s": round(time.perf_counter() - started, 1),
    }


def percentile(xs: list[float], q: float) -> float:
    """Nearest rank, in seconds."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def measure(
    db: Database, config: RoutingConfiguration, runs: int, budget: float
) -> dict[str, list[float]]:
    """Each entry point and the baseline, `runs` times each, interleaved."""
    today = end_of_data().date()
    start = today - timedelta(days=365)
    last = today - timedelta(days=1)

    async def evaluation() -> None:
        async with reading(db) as unit, evidence.roomy(unit):
            await evidence.evaluation(unit, config, start, last, as_of=datetime.now(UTC))

    async def needs() -> None:
        async with reading(db) as unit, evidence.roomy(unit):
            await evidence.needs(unit, config, start, last)

    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "baseline": lambda: evidence_bulk.count_by_area(db),
        "evaluation": evaluation,
        "needs": needs,
    }
    for fn in calls.values():
        await fn()  # warm: plans cached, pages in shared buffers
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            if within(seconds[name], budget):
                seconds[name].append(await timed(fn))
    return seconds


async def full_export(
    db: Database, config: RoutingConfiguration, settings: Settings
) -> dict[str, Any]:
    """The whole history's export, aggregates and records, CSV, as an analyst."""
    out = Path(tempfile.mkdtemp(prefix="vrp-bench-export-"))
    analyst = Person("bench", "bench.analyst", "Bench analyst", "wm-vru", Role.ANALYST)
    today = end_of_data().date()
    period = Period(today - timedelta(days=730), today)
    try:
        start = time.perf_counter()
        written = await export(
            db,
            config,
            period,
            Format.CSV,
            out,
            settings.console_disclosure_threshold,
            analyst,
            "bench",
        )
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in written.files)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "seconds": round(seconds, 2),
        "record_rows": written.records,
        "files": len(written.files),
        "bytes": size,
        "period": [period.start.isoformat(), period.end.isoformat()],
    }


def summary(seconds: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of each and its ratio to the baseline's p50."""
    base = percentile(seconds["baseline"], 0.5)
    out: dict[str, dict[str, float]] = {}
    for name, xs in seconds.items():
        p50, p99 = percentile(xs, 0.5), percentile(xs, 0.99)
        out[name] = {
            "p50_ms": round(p50 * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "max_ms": round(max(xs) * 1000, 1),
            "p50_ratio": round(p50 / base, 1),
            "p99_ratio": round(p99 / base, 1),
            "runs": len(xs),
        }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, measure, export; the figures."""
    settings = Settings()
    config = load_configuration(settings.config_dir)
    db = await reused(args.referrals) if args.reuse else None
    loaded: dict[str, Any] = {"referrals": args.referrals, "reused": True}
    if db is None:
        db = await fresh_database(args.database_url)
        loaded = await load(db, config, args.referrals)
    try:
        print(f"loaded: {loaded}")
        seconds = await measure(db, config, args.runs, args.budget)
        prepared: dict[str, dict[str, float]] = {}
        served = await pages(
            db.url,
            config,
            args.runs,
            args.budget,
            lambda: evidence_bulk.count_by_area(db),
            prepared,
        )
        exported = await full_export(db, config, settings)
    finally:
        await db.dispose()
    figures = summary(seconds)
    page_figures = summary(served)
    base = percentile(seconds["baseline"], 0.5)
    exported["ratio"] = round(exported["seconds"] / base, 1)
    return {
        "loaded": loaded,
        "entry_points": figures,
        "pages": page_figures,
        "first_visits": prepared,
        "export": exported,
        "runs": args.runs,
        "configuration": config.version,
        "goals": GOALS,
        "goals_met": {
            "pages_p99": all(
                f["p99_ms"] <= PAGE_GOAL_S * 1000
                for n, f in page_figures.items()
                if n != "baseline"
            ),
            "first_answers": all(
                f["first_answer_ms"] <= PAGE_GOAL_S * 1000 for f in prepared.values()
            ),
            "export": exported["seconds"] <= EXPORT_GOAL_S,
        },
    }


def main() -> None:
    """Run the benchmark, print the figures, write them to bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--budget",
        type=float,
        default=300.0,
        help="seconds of runs per figure after its first three (a slower one is run fewer times)",
    )
    parser.add_argument("--database-url", help="use this PostgreSQL database (emptied)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use vrp_bench_evidence as an earlier run loaded it, if it holds --referrals",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON file (default bench/results/evidence-<time>)"
    )
    args = parser.parse_args()
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    result = asyncio.run(run(args))
    base = result["entry_points"]["baseline"]["p50_ms"]
    print(f"baseline GROUP BY over referral_facts: p50 {base} ms ({args.runs} runs)")
    for group in ("entry_points", "pages"):
        for name, f in result[group].items():
            print(
                f"  {name:<34} p50 {f['p50_ms']:>9.1f} ms  p99 {f['p99_ms']:>9.1f} ms  "
                f"x{f['p50_ratio']} / x{f['p99_ratio']} the baseline's p50  ({f['runs']} runs)"
            )
    e = result["export"]
    print(
        f"  full export {e['seconds']} s ({e['record_rows']:,} record rows, {e['bytes']:,} "
        f"bytes), x{e['ratio']} the baseline"
    )
    for name, f in result["first_visits"].items():
        print(
            f"  first visit, {name:<27} first answer {f['first_answer_ms']:>9.1f} ms, "
            f"figures after {f['figures_s']} s"
        )
    print(f"goals: {GOALS}: {result['goals_met']}")
    figures = {
        "benchmark": "bench.evidence",
        "command": [sys.executable, "-m", "bench.evidence", *sys.argv[1:]],
        "started": started.isoformat(timespec="seconds"),
        "machine": probe.machine(),
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "git": probe.git_commit(),
        **result,
    }
    stamp = f"{started:%Y%m%d-%H%M%S}"
    out = args.out or probe.ROOT / "bench" / "results" / f"evidence-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
