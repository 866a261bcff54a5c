"""Benchmark: production mode end to end, intake -> router -> notifier as three OS processes
on Kafka + PostgreSQL, under open-loop load at fixed rates.

    .venv/bin/python -m bench.e2e [--rates 10,50,100,200] [--duration 20]

Sets up a fresh database (vrp_bench_e2e), a fresh topic namespace `benche2e<hex>.`, the
run's own Kafka users (`benche2e<hex>-vrp-intake`, ...: the services' grants on that
namespace only; the real `vrp-*` users are never touched; revoked at the end) and an SMTP
sink on loopback, then starts `vrp intake`, `vrp router` and `vrp notifier`. Per rate, a
separate load process (bench/e2e_load.py) POSTs the seeded workload mix at that fixed rate
with unique Idempotency-Keys, firing on schedule whatever the answers (no coordinated
omission). Every latency is measured from a request's scheduled send time (wall clock, one
machine):
  POST->202      the HTTP answer (the load process);
  POST->decided  decisions.decided_at, the router's clock when it decided (database);
  POST->routed   the first event for the referral on any partner.<org>.referrals topic
                 (a routed referral, or the hub's copy of a held one), as a plain
                 consumer in this process sees it (external);
  POST->alert    the first alert email with its X-VRP-Referral at the SMTP sink (external).
A referral without an alert 60 s after its POST is unfinished and counts as infinitely
late in the percentiles. Also per step: CPU seconds and peak RSS of each service from
/proc (and its CPU while idle during the baseline), machine CPU busy, and deadlocks (delta
of pg_stat_database.deadlocks; PostgreSQL publishes counters up to ~10 s late, so the run's
total is read after a pause at the end).
Baseline in the same run, before each step at the same rate: aiokafka alone carrying a
message over two hops (produce -> consume + produce -> consume), the transport floor of the
two Kafka hops a referral makes. Writes bench/results/e2e-<time>.json; logs in var/bench/.
Needs deploy/postgres.sh and deploy/kafka.sh running. Stops by itself; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select, text

from bench import databases
from bench import e2e_probe as probe
from bench import e2e_report as report
from bench.broker import admin_settings, release
from bench.workload import REFERRERS
from services.intake.auth.keys import issue
from vrp.config_files import load_configuration
from vrp.domain.identifiers import reference
from vrp.events import topics
from vrp.provisioning.topics import all_topics, ensure_topics
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import decisions
from vrp.store.unit import unit_of_work
from vrp.transport.connection import aiokafka_options

ROOT = probe.ROOT
DB_NAME = "vrp_bench_e2e"
ROLES = report.ROLES
HOPS = ("bench.hop1", "bench.hop2")
PARTITIONS = 3
LATE = 60.0  # seconds after its POST a referral counts as unfinished


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fresh_database() -> tuple[Database, dict[str, str]]:
    """An empty, migrated vrp_bench_e2e and an API key per referring organisation."""
    db = await databases.recreated(DB_NAME)
    async with unit_of_work(db) as unit:
        tokens = {org: await issue(unit, org) for org in REFERRERS}
    return db, tokens


async def deadlocks(db: Database) -> int:
    """pg_stat_database.deadlocks of the bench database (a fresh snapshot)."""
    async with db.engine.connect() as conn:
        row = await conn.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = :n"), {"n": DB_NAME}
        )
        value = int(row.scalar_one() or 0)
        await conn.rollback()
    return value


class PartnerWatch:
    """First arrival (wall clock) of an event per referral on any partner referrals topic."""

    def __init__(self, options: dict[str, Any], names: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
        self.partitions = [TopicPartition(n, p) for n in names for p in range(PARTITIONS)]
        self.first: dict[str, float] = {}

    async def run(self) -> None:
        """Consume from the beginning until cancelled."""
        await self.consumer.start()
        try:
            self.consumer.assign(self.partitions)
            await self.consumer.seek_to_beginning(*self.partitions)
            while True:
                batch = await self.consumer.getmany(timeout_ms=200)
                now = time.time()
                for records in batch.values():
                    for rec in records:
                        # The key is the referral id (the outbox keys every event by it):
                        # no JSON to parse, so the watcher costs the machine little.
                        rid = rec.key.decode() if rec.key else json.loads(rec.value)["subject"]
                        self.first.setdefault(rid, now)
        finally:
            await self.consumer.stop()


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait for it to end."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def start(role: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """One `vrp <role>` process, output to logs/<role>.log."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", role],
        env=env,
        cwd=ROOT,
        stdout=(logs / f"{role}.log").open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


async def wait_ready(procs: dict[str, subprocess.Popen[bytes]], logs: Path, port: int) -> None:
    """Until intake answers /ready and router and notifier have logged that they run."""
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            for role, proc in procs.items():
                if proc.poll() is not None:
                    tail = (logs / f"{role}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{role} exited: {tail}")
            running = all(
                f"vrp {r} running" in (logs / f"{r}.log").read_text(errors="replace")
                for r in ("router", "notifier")
            )
            try:
                ready = (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and running:
                return
            await asyncio.sleep(0.3)
    raise RuntimeError("the services did not become ready")


class Bench:
    """One run: the environment, then the steps."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.logs = ROOT / "var" / "bench" / f"e2e-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.admin = admin_settings(args.kafka)
        self.options = aiokafka_options(self.admin)
        self.ns = f"benche2e{uuid.uuid4().hex[:6]}."
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    async def run(self) -> dict[str, Any]:
        """Set up, run every step, tear down (in reverse, whatever happens); the figures."""
        names = all_topics(load_configuration(DEMO_CONFIG_DIR))
        async with contextlib.AsyncExitStack() as undo:
            self.db, tokens = await fresh_database()
            undo.push_async_callback(self.db.dispose)
            (self.logs / "tokens.json").write_text(json.dumps(tokens))
            undo.push_async_callback(self.delete_topics, [*names, *HOPS])
            await ensure_topics(self.options, names, PARTITIONS, 1, self.ns)
            await ensure_topics(self.options, list(HOPS), 1, 1, self.ns)
            undo.callback(release, self.admin, self.ns)
            role_env = probe.provision(self.admin, self.ns)
            smtp_port = free_port()
            smtp, self.alerts = probe.smtp_sink(smtp_port)
            undo.callback(smtp.stop)
            for role in ROLES:
                await probe.wait_for_login(self.admin, role_env[role], self.ns + topics.DECIDED)
            partner = [self.ns + n for n in names if topics.partner_of(n)]
            self.partner = PartnerWatch(self.options, partner)
            watching = asyncio.create_task(self.partner.run())
            undo.push_async_callback(cancel, watching)
            env = {
                **os.environ,
                "VRP_TRANSPORT": "kafka",
                "VRP_DATABASE_URL": databases.url(DB_NAME),
                "VRP_KAFKA_BOOTSTRAP": self.args.kafka,
                "VRP_KAFKA_NAMESPACE": self.ns,
                "VRP_PORT": str(self.port),
                "VRP_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
                "VRP_SMTP_HOST": "127.0.0.1",
                "VRP_SMTP_PORT": str(smtp_port),
                "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
                "VRP_RATE_LIMIT_PER_SECOND": "1000000",
                "VRP_RATE_LIMIT_BURST": "1000000",
                "OTEL_TRACES_EXPORTER": "none",
                **dict(kv.split("=", 1) for kv in self.args.env),
            }
            undo.callback(self.stop)
            for role in ROLES:
                self.procs[role] = start(role, env | role_env[role], self.logs)
            await wait_ready(self.procs, self.logs, self.port)
            print(f"services up ({self.ns}), logs in {self.logs}", flush=True)
            if self.args.warmup > 0:
                await self.step(10, self.args.warmup, "warmup")
            steps = [await self.step(rate, self.args.duration, f"r{rate:g}") for rate in self.rates]
            await asyncio.sleep(self.args.deadlock_wait)  # PostgreSQL publishes within ~10 s
            total = await deadlocks(self.db)
        return {"steps": steps, "deadlocks_total": total, "logs": str(self.logs)}

    @property
    def rates(self) -> list[float]:
        """The configured rates."""
        return [float(r) for r in self.args.rates.split(",")]

    async def step(self, rate: float, duration: float, label: str) -> dict[str, Any]:
        """One rate: baseline, load, wait for stragglers, figures."""
        hop1, hop2 = (self.ns + h for h in HOPS)
        pids = {**{r: p.pid for r, p in self.procs.items()}, "bench": os.getpid()}
        idle = probe.Sampler(pids)  # the services are idle while the baseline runs
        base = (
            await probe.two_hops(self.options, hop1, hop2, rate, self.args.baseline_seconds)
            if self.args.baseline_seconds > 0
            else []
        )
        idle_cpu = {r: f["cpu_share_of_one_core"] for r, f in idle.finish().items() if r in ROLES}
        dead0 = await deadlocks(self.db)
        sampler = probe.Sampler(pids, probe.server_pids())
        sampling = asyncio.create_task(sampler.run())
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = self.logs / f"{label}.json"
        load = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.e2e_load", "--port", str(self.port)),
            *("--tokens", str(self.logs / "tokens.json"), "--run", f"{self.stamp}-{label}"),
            *("--rate", str(rate), "--duration", str(duration), "--out", str(out)),
            *("--seed", str(int(rate * 1000 + duration))),
            cwd=ROOT,
        )
        if await load.wait() != 0:
            raise RuntimeError("the load process failed")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load process, reaped
        load_cpu = sum(
            getattr(children, f) - getattr(children0, f) for f in ("ru_utime", "ru_stime")
        )
        records: list[list[Any]] = json.loads(out.read_text())
        sent = {rec[3]: rec[0] for rec in records if rec[3]}
        refs = {rid: reference(uuid.UUID(rid)) for rid in sent}
        give_up = max(sent.values(), default=time.time()) + LATE
        while time.time() < give_up and not all(
            refs[rid] in self.alerts.first and rid in self.partner.first for rid in sent
        ):
            await asyncio.sleep(0.25)
        sampling.cancel()
        resources = sampler.finish()
        resources["load"] = {"cpu_s": round(load_cpu, 2)}
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(decisions.c.referral_id, decisions.c.decided_at).where(
                    decisions.c.referral_id.in_(list(sent))
                )
            )
            decided = {r.referral_id: r.decided_at.timestamp() for r in rows}

        def late(times: dict[str, float], key: Any = lambda rid: rid) -> list[float]:
            lat = (times.get(key(rid), math.inf) - t for rid, t in sent.items())
            return [x if x <= LATE else math.inf for x in lat]

        first = min((rec[0] for rec in records), default=0.0)
        span = max((rec[0] for rec in records), default=0.0) - first + 1 / rate
        done = max((rec[1] for rec in records if rec[2] == 202), default=first)
        alerts = late(self.alerts.first, refs.__getitem__)
        result = {
            "rate": rate,
            "duration_s": duration,
            "sent": len(records),
            "offered_per_s": round(len(records) / span, 1),
            "accepted": len(sent),
            "accepted_per_s": round(len(sent) / (done - first + 1 / rate), 1),
            "http_status": dict(Counter(str(rec[2]) for rec in records)),
            "post_to_202": report.percentiles([rec[1] - rec[0] for rec in records]),
            "post_to_decided": report.percentiles(late(decided)),
            "post_to_routed": report.percentiles(late(self.partner.first)),
            "post_to_alert": report.percentiles(alerts),
            "unfinished_after_60s": sum(math.isinf(x) for x in alerts),
            "deadlocks": await deadlocks(self.db) - dead0,
            "resources": resources,
            "baseline_kafka_two_hops": report.percentiles(base) | {"messages": len(base)},
            "idle_cpu_share_of_one_core": idle_cpu,
        }
        report.show(label, result)
        return result

    def stop(self) -> None:
        """Stop the processes this run started (by PID)."""
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def delete_topics(self, names: list[str]) -> None:
        """Remove the run's namespace from the broker."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**self.options)
        await admin.start()
        try:
            await admin.delete_topics([self.ns + n for n in names])
        finally:
            await admin.close()


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rates", default="10,50,100,200", help="referrals/s, one step each")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per step")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds at 10/s first (0: none)")
    p.add_argument("--baseline-seconds", type=float, default=5.0, help="0: no baseline")
    p.add_argument(
        "--deadlock-wait", type=float, default=11.0, help="seconds before the final count"
    )
    p.add_argument("--kafka", default=os.environ.get("VRP_BENCH_KAFKA", "127.0.0.1:9092"))
    p.add_argument("--env", action="append", default=[], metavar="VAR=VALUE", help="services")
    p.add_argument("--out", type=Path, help="JSON file (default bench/results/e2e-<time>.json)")
    args = p.parse_args()
    bench = Bench(args)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        import uvloop
    except ImportError:
        figures = asyncio.run(bench.run())
    else:
        figures = uvloop.run(bench.run())
    checks = report.goals(figures["steps"], figures["deadlocks_total"])
    problems = report.log_problems(bench.logs)
    print(f"\ndeadlocks in the whole run: {figures['deadlocks_total']}\ngoals ({report.GOALS}):")
    print("\n".join(f"  {c}" for c in checks))
    for role, lines in problems.items():
        print(f"{role} log: {lines[0]}", *(f"    {ln[:200]}" for ln in lines[1:6]), sep="\n")
    result = {
        "benchmark": "bench.e2e",
        "command": [sys.executable, "-m", "bench.e2e", *sys.argv[1:]],
        "started": started,
        "machine": probe.machine(),
        "git": probe.git_commit(),
        "settings": {"partitions": PARTITIONS, "database": DB_NAME, "service_env": args.env},
        "method": (__doc__ or "").split("\n\n", 2)[2].splitlines(),
        "goals": checks,
        **figures,
        "log_problems": problems,
    }
    out = args.out or ROOT / "bench" / "results" / f"e2e-{bench.stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
