"""Benchmark: the router service on Kafka + PostgreSQL, consume -> decide -> commit -> publish.

    .venv/bin/python -m bench.router [--referrals 20000] [--processes 1]

Loads N received-referral events onto a fresh namespace of the real broker, starts the
real `vrp router` process(es), and times from the first committed decision until every
decision is committed and every outbox row is published. Baseline in the same run: a
plain aiokafka consume -> produce pass-through of the same events, committing per batch.
Needs deploy/postgres.sh and deploy/kafka.sh running. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from bench import databases
from bench import e2e_probe as probe
from bench.broker import admin_settings, release, service_env
from bench.workload import referrals
from vrp.config_files import load_configuration
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.provisioning.topics import all_topics, ensure_topics
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import decisions, outbox
from vrp.transport.connection import aiokafka_options

BENCH_URL = databases.url("vrp_bench")


async def fresh_database() -> Database:
    """An empty, migrated vrp_bench database."""
    return await databases.recreated("vrp_bench")


async def load_events(options: dict[str, Any], ns: str, n: int) -> None:
    """Put n received-referral events on the namespace's received topic."""
    producer = AIOKafkaProducer(**options, acks="all", linger_ms=20, enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for r in referrals(n):
            env = Envelope.wrap(ReferralReceived(referral=r), "/bench", r.id)
            futures.append(
                await producer.send(ns + topics.RECEIVED, env.to_bytes(), key=r.id.encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def passthrough(options: dict[str, Any], ns: str, n: int) -> float:
    """Baseline: consume the same events and produce each to another topic; msgs/s."""
    consumer = AIOKafkaConsumer(
        ns + topics.RECEIVED,
        **options,
        group_id=ns + "baseline",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, linger_ms=2)
    await consumer.start()
    await producer.start()
    seen, started = 0, 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=200)
            if not started:
                started = time.perf_counter()
            futures = [
                await producer.send(ns + topics.DECIDED, rec.value, key=rec.key)
                for records in batch.values()
                for rec in records
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            seen += len(futures)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def main() -> None:
    """Run the benchmark and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--referrals", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args()
    n = args.referrals
    ns = f"bench{uuid.uuid4().hex[:6]}."
    config = load_configuration(DEMO_CONFIG_DIR)
    admin = admin_settings(args.bootstrap)
    options = aiokafka_options(admin)
    await ensure_topics(options, all_topics(config), 3, 1, ns)
    router_env = service_env(admin, ns, "vrp-router")
    await asyncio.sleep(2)  # new credentials take a moment to reach the broker
    db = await fresh_database()
    await load_events(options, ns, n)
    baseline = await passthrough(options, ns, n)

    env = {
        **os.environ,
        "VRP_TRANSPORT": "kafka",
        "VRP_DATABASE_URL": BENCH_URL,
        "VRP_KAFKA_BOOTSTRAP": args.bootstrap,
        "VRP_KAFKA_NAMESPACE": ns,
        **router_env,
        "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
        "VRP_POLL_INTERVAL": "0.2",
    }
    Path("var/bench").mkdir(parents=True, exist_ok=True)
    log = Path("var/bench/router.log").open("wb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "router"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(args.processes)
    ]
    first = last = 0.0
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            async with db.engine.connect() as conn:
                done = await conn.execute(select(func.count()).select_from(decisions))
                decided = done.scalar_one()
                pending = (
                    await conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.published_at.is_(None))
                    )
                ).scalar_one()
                await conn.rollback()
            now = time.perf_counter()
            if args.verbose and int(now * 10) % 20 == 0:
                print(f"  t={now - (first or now):5.1f}s decided={decided} unpublished={pending}")
            if decided and not first:
                first = now
            if decided == n and pending == 0:
                last = now
                break
            await asyncio.sleep(0.1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        await db.dispose()
        release(admin, ns)  # the run's own principals (never the real services' users)
    if not last:
        print(f"did not finish: {decided} of {n} decided, {pending} unpublished")
        return
    rate = n / (last - first)
    print(f"{n:,} referrals, {args.processes} router process(es), 3 partitions, PostgreSQL")
    print(f"  router consume->decide->commit->publish  {rate:>9,.0f} referrals/s")
    print(f"  baseline aiokafka consume->produce       {baseline:>9,.0f} msgs/s")
    print(f"  ratio                                    {rate / baseline:9.2f}")
    print(f"  goal 2,000 referrals/s: {'met' if rate >= 2000 else 'not met'}")
    out = args.out or Path("bench/results") / f"router-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "command": " ".join(["python -m bench.router", *sys.argv[1:]]),
        "machine": probe.machine(),
        "git": probe.git_commit(),
        "referrals": n,
        "router_processes": args.processes,
        "partitions": 3,
        "router_referrals_per_s": round(rate, 1),
        "baseline_passthrough_msgs_per_s": round(baseline, 1),
        "ratio": round(rate / baseline, 3),
        "goal_referrals_per_s": 2000,
    }
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
