"""Benchmark: POST /v1/referrals on PostgreSQL, against a one-INSERT FastAPI baseline.

    .venv/bin/python -m bench.intake [--runs 3] [--duration 8] [--rates 200,500,1000]

Starts the real `vrp intake` process (Kafka transport: API, outbox relay and consumers in
one process, uvicorn on 127.0.0.1) on a fresh PostgreSQL database, and the baseline app
(bench/baseline_app.py: FastAPI, one INSERT per request) on the same database. A separate
load process (bench/http_load.py) drives each at fixed rates (open loop: latency is
measured from the scheduled send time, so a server that falls behind is charged for the
queue) and at "max" (closed loop, fixed concurrency). Every 2xx from intake is a durable
referral (committed with its outbox event). Prints sustained throughput and p50/p99 per
step, medians over the runs, and intake's share of the baseline's maximum throughput.
Needs PostgreSQL and Kafka running (deploy/). Not a test; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import e2e_probe as probe
from bench import intake_server as server
from bench.broker import admin_settings, release

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgresql+asyncpg://vrp:vrp@127.0.0.1:5432/vrp_bench_intake"


# ---------------------------------------------------------------- orchestration


async def _prepare_database(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from vrp.store.database import Database
    from vrp.store.migrate import upgrade

    name = url.rsplit("/", 1)[-1]
    admin = create_async_engine(url.rsplit("/", 1)[0] + "/vrp", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        exists = await conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if exists.first() is None:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(db)
    await db.dispose()


def main_orchestrate(args: argparse.Namespace) -> None:
    """Start both servers, run every step args.runs times, print the medians."""
    url = args.db
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    asyncio.run(_prepare_database(url))
    token = asyncio.run(server.issue_key(url))
    asyncio.run(server.topics(args.kafka, namespace, create=True))
    tmp = Path(tempfile.mkdtemp(prefix="vrp-bench-"))
    body = tmp / "referral.json"
    body.write_text(json.dumps(json.loads((ROOT / "deploy/examples/referral.json").read_text())))
    intake_port, base_port = server.free_port(), server.free_port()
    env = server.intake_env(url, args.kafka, namespace, args.pool_size, args.intake_env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        intake_args = ["-m", "services.cli", "intake", "--port", str(intake_port)]
        procs.append(server.start("intake", intake_args, env, intake_port, tmp))
        base_args = ["-m", "bench.baseline_app", "--port", str(base_port), "--db", url]
        base_args += ["--pool-size", str(args.pool_size)]
        procs.append(server.start("baseline", base_args, env, base_port, tmp))
        rates = [*args.rates.split(","), "max"]
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for run in range(args.runs):
            for rate in rates:
                for name, port in (("intake", intake_port), ("baseline", base_port)):
                    r = server.step(port, token, rate, args.duration, args.concurrency, body)
                    results.setdefault((name, rate), []).append(r)
                    print(
                        f"run {run + 1} {name:8} {rate:>5}/s: {r['throughput']:7.0f}/s "
                        f"p50 {r['p50_ms']:6.1f} ms p99 {r['p99_ms']:7.1f} ms "
                        f"errors {r['errors']}",
                        flush=True,
                    )
        _report(results, rates, args)
    finally:
        server.stop(procs)
        with contextlib.suppress(Exception):
            asyncio.run(server.topics(args.kafka, namespace, create=False))
        with contextlib.suppress(Exception):
            release(admin_settings(args.kafka), namespace)


def _report(
    results: dict[tuple[str, str], list[dict[str, Any]]], rates: list[str], args: argparse.Namespace
) -> None:
    def med(name: str, rate: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in results[(name, rate)])

    print(
        f"\nMedians of {args.runs} runs, {args.duration:g} s per step, one process each, "
        f"PostgreSQL, loopback; max = {args.concurrency} concurrent clients; "
        f"intake env: {' '.join(args.intake_env) or '(defaults)'}\n"
    )
    print(
        f"{'target':9} {'offered':>8} {'sustained/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    )
    for rate in rates:
        for name in ("intake", "baseline"):
            errors = sum(r["errors"] for r in results[(name, rate)])
            print(
                f"{name:9} {rate:>8} {med(name, rate, 'throughput'):12.0f} "
                f"{med(name, rate, 'p50_ms'):8.1f} {med(name, rate, 'p99_ms'):8.1f} {errors:7d}"
            )
    ratio = med("intake", "max", "throughput") / med("baseline", "max", "throughput")
    print(f"\nintake / baseline at max: {ratio:.2f}")
    p99_200 = med("intake", "200", "p99_ms") if ("intake", "200") in results else float("nan")
    print(
        f"goals: >= 1000 durable referrals/s -> {med('intake', 'max', 'throughput'):.0f}/s; "
        f"p99 <= 50 ms at 200/s -> {p99_200:.1f} ms; ratio >= 0.6 -> {ratio:.2f}"
    )
    figures = {
        "benchmark": "bench.intake",
        "command": [sys.executable, "-m", "bench.intake", *sys.argv[1:]],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": probe.machine(),
        "git": probe.git_commit(),
        "runs": args.runs,
        "step_seconds": args.duration,
        "concurrency": args.concurrency,
        "steps": {
            f"{name}@{rate}": {
                "throughput_per_s": round(med(name, rate, "throughput"), 1),
                "p50_ms": round(med(name, rate, "p50_ms"), 1),
                "p99_ms": round(med(name, rate, "p99_ms"), 1),
                "errors": sum(int(r["errors"]) for r in results[(name, rate)]),
            }
            for rate in rates
            for name in ("intake", "baseline")
        },
        "ratio_to_baseline_at_max": round(ratio, 3),
        "goals": {"referrals_per_s": 1000, "p99_ms_at_200": 50, "ratio": 0.6},
    }
    out = args.out or ROOT / "bench" / "results" / f"intake-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    server.load_options(p, "200,500,1000", "bench/results/intake-<time>.json")
    p.add_argument("--db", default=os.environ.get("VRP_BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--kafka", default=os.environ.get("VRP_BENCH_KAFKA", "127.0.0.1:9092"))
    main_orchestrate(p.parse_args())


if __name__ == "__main__":
    main()
