"""Benchmark: the FHIR door (POST /fhir/$process-message, a BaRS message) beside the JSON
door (POST /v1/referrals), the same referral through each, in the same run.

    .venv/bin/python -m bench.fhir [--runs 3] [--duration 8] [--rates 50,100,200]
    .venv/bin/python -m bench.fhir --runs 1 --rates 100 --profile DIR --out /tmp/f.json

One real `vrp intake` process (Kafka transport: API, outbox relay and consumers in one
process, uvicorn on 127.0.0.1) on a fresh PostgreSQL database (vrp_bench_fhir) serves both
doors, so that the doors differ by nothing but the door: not by a process's warm-up, its
connection pool, its database or when it ran. A separate load process (bench/http_load.py)
drives one door per step, at each fixed rate (open loop: latency from the scheduled send
time) and at "max" (closed loop, fixed concurrency). For each rate the two doors run back
to back, JSON first in odd runs and FHIR first in even ones, so that both share the noise
of the shared machine and neither always inherits the other's leftovers. The JSON door
sends deploy/examples/referral.json; the FHIR door the same referral as testkit.fhir writes
it as a BaRS message (every id fresh per request, a new X-Request-ID each time).
Before each step the outbox is empty (the previous step's events relayed to Kafka); the
intake process's CPU is counted from the start of the load until its outbox is empty again,
per 2xx answer (the load's 1 s warm-up at 100/s included): CPU ms per referral, gross of
the process's idle cost (reported). Ratios are per run (its two doors, back to back), then
the median over runs: throughput FHIR/JSON, p99 JSON/FHIR (both >= 0.7 is the goal: FHIR's
p99 at most 1/0.7 = 1.43 x JSON's) and CPU per referral FHIR/JSON. Afterwards every 2xx
must be a referral in the database and every FHIR 2xx a message row. Writes
bench/results/fhir-<time>.json; logs in var/bench/fhir-<time>/. --profile DIR records the
intake process with py-spy in each max step (DIR/<door>-run<n>.txt, raw collapsed stacks
at 100 Hz; profiling slows it, so keep such figures out of bench/results/). Needs
PostgreSQL and Kafka running (deploy/). Not a test; stops by itself.
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
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import databases
from bench import e2e_probe as probe
from bench import intake_server as server
from bench.broker import admin_settings, release
from testkit.fhir import message
from vrp.store.database import Database
from vrp.store.tables import fhir_messages, outbox, referrals

ROOT = server.ROOT
DB_NAME = "vrp_bench_fhir"
DOORS = ("json", "fhir")
GOAL = 0.7
EXAMPLE = ROOT / "deploy" / "examples" / "referral.json"


def bodies(base: str, into: Path) -> dict[str, Path]:
    """The referral as each door takes it: the JSON body, and the BaRS message to `base`."""
    body = json.loads(EXAMPLE.read_text())
    files = {"json": into / "referral.json", "fhir": into / "message.json"}
    files["json"].write_text(json.dumps(body))
    files["fhir"].write_text(json.dumps(message(body, base)))
    return files


async def unpublished(db: Database) -> int:
    """Events in the outbox not yet relayed to Kafka."""
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return int((await conn.execute(query)).scalar_one())


async def drained(db: Database, timeout: float = 60.0) -> float:
    """Seconds until the outbox is empty (RuntimeError after `timeout`)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while await unpublished(db):
        if loop.time() - start > timeout:
            raise RuntimeError(f"the outbox was not relayed within {timeout:g} s")
        await asyncio.sleep(0.1)
    return round(loop.time() - start, 2)


async def stored(db: Database) -> dict[str, int]:
    """Referrals in the database, and those that came as a FHIR message."""
    async with db.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(referrals))).scalar_one()
        fhir = await conn.execute(
            select(func.count()).select_from(fhir_messages).where(fhir_messages.c.reason == "new")
        )
        return {"referrals": int(total), "fhir_messages_new": int(fhir.scalar_one())}


class Bench:
    """One run: the intake process, then every step."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.logs = ROOT / "var" / "bench" / f"fhir-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = server.free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.rates = [*args.rates.split(","), "max"]

    async def run(self) -> dict[str, Any]:
        """Set up, run the steps, check durability, tear down; the raw figures."""
        args = self.args
        namespace = f"bench{os.urandom(4).hex()}."
        db = await databases.recreated(DB_NAME)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            token = await server.issue_key(databases.url(DB_NAME))
            await server.topics(args.kafka, namespace, create=True)
            env = server.intake_env(
                databases.url(DB_NAME),
                args.kafka,
                namespace,
                args.pool_size,
                [f"VRP_PUBLIC_URL=http://127.0.0.1:{self.port}", *args.intake_env],
            )
            cmd = ["-m", "services.cli", "intake", "--port", str(self.port)]
            intake = await asyncio.to_thread(server.start, "intake", cmd, env, self.port, self.logs)
            procs.append(intake)
            files = bodies(self.base, self.logs)
            idle = await self.idle_share(intake.pid)
            runs = []
            for run in range(args.runs):
                order = DOORS if run % 2 == 0 else DOORS[::-1]
                steps: dict[str, dict[str, Any]] = {}
                for rate in self.rates:
                    for door in order:
                        label = f"{door}-run{run + 1}"
                        r = await self.step(db, intake.pid, token, (door, rate, label), files)
                        steps[f"{door}@{rate}"] = r
                        show(run + 1, door, rate, r)
                runs.append({"run": run + 1, "order": list(order), "steps": steps})
            await drained(db)
            counted = await stored(db)
        finally:
            await asyncio.to_thread(server.stop, procs)
            await db.dispose()
            with contextlib.suppress(Exception):
                await server.topics(args.kafka, namespace, create=False)
            with contextlib.suppress(Exception):
                release(admin_settings(args.kafka), namespace)
        return {"runs": runs, "stored": counted, "idle_cpu_share_of_one_core": idle}

    async def idle_share(self, pid: int, seconds: float = 3.0) -> float:
        """The intake process's CPU while nobody calls it (consumers and relay polling)."""
        cpu0 = probe.cpu_seconds(pid)
        await asyncio.sleep(seconds)
        return round((probe.cpu_seconds(pid) - cpu0) / seconds, 3)

    async def step(
        self, db: Database, pid: int, token: str, what: tuple[str, str, str], files: dict[str, Path]
    ) -> dict[str, Any]:
        """One door at one rate; its figures with the intake process's CPU per referral."""
        args = self.args
        door, rate, label = what
        profiled = args.profile / f"{label}.txt" if args.profile and rate == "max" else None
        await drained(db)
        load_1min = os.getloadavg()[0]
        cpu0 = probe.cpu_seconds(pid)
        cmd = server.load_args(
            self.port, token, rate, args.duration, args.concurrency, files[door], ["--door", door]
        )
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        spy = asyncio.create_task(self.profile(pid, profiled)) if profiled else None
        out, err = await proc.communicate()
        if spy is not None:
            await spy
        if proc.returncode != 0:
            raise RuntimeError(f"load step {door}@{rate} failed: {err.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        result["drain_s"] = await drained(db)
        cpu = probe.cpu_seconds(pid) - cpu0
        answered = result["ok"] + result["warmup"]["ok"]
        result["intake_cpu_s"] = round(cpu, 2)
        result["cpu_ms_per_referral"] = round(1000 * cpu / max(answered, 1), 3)
        result["load_1min_before"] = load_1min
        if profiled:
            result["profile"] = str(profiled)
        return result

    async def profile(self, pid: int, out: Path) -> None:
        """py-spy on the intake process during a max step, after the load's warm-up: raw
        collapsed stacks (--profile DIR/<door>-run<n>.txt)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.sleep(2.5)  # the load process's start and its 1 s warm-up
        spy = await asyncio.create_subprocess_exec(
            *(str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid)),
            *("-d", str(max(1, int(self.args.duration) - 1)), "-r", "100", "-f", "raw"),
            *("-o", str(out)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await spy.wait()


def show(run: int, door: str, rate: str, r: dict[str, Any]) -> None:
    """Print one step."""
    print(
        f"run {run} {door:4} {rate:>5}/s: {r['throughput']:6.0f}/s p50 {r['p50_ms']:7.1f} ms "
        f"p99 {r['p99_ms']:7.1f} ms cpu {r['cpu_ms_per_referral']:5.2f} ms/referral "
        f"statuses {r['statuses']} drain {r['drain_s']} s",
        flush=True,
    )


def ratios(steps: dict[str, dict[str, Any]], rate: str) -> dict[str, float]:
    """One run's FHIR-to-JSON ratios at `rate` (each >= 1 where FHIR does as well)."""
    j, f = steps[f"json@{rate}"], steps[f"fhir@{rate}"]

    def over(a: float, b: float) -> float:
        return round(a / b, 3) if b else float("nan")

    return {
        "throughput_fhir_over_json": over(f["throughput"], j["throughput"]),
        "p99_json_over_fhir": over(j["p99_ms"], f["p99_ms"]),
        "p50_json_over_fhir": over(j["p50_ms"], f["p50_ms"]),
        "cpu_fhir_over_json": over(f["cpu_ms_per_referral"], j["cpu_ms_per_referral"]),
    }


def summary(raw: dict[str, Any], rates: list[str]) -> dict[str, Any]:
    """Medians over runs per door and rate, the ratios, the goals and the durability check."""
    runs = raw["runs"]
    steps: dict[str, dict[str, Any]] = {}
    for rate in rates:
        for door in DOORS:
            xs = [r["steps"][f"{door}@{rate}"] for r in runs]
            statuses: Counter[str] = Counter()
            for x in xs:
                statuses.update(x["statuses"])
                statuses.update(x["warmup"]["statuses"])
            steps[f"{door}@{rate}"] = {
                "throughput_per_s": round(statistics.median(x["throughput"] for x in xs), 1),
                "p50_ms": round(statistics.median(x["p50_ms"] for x in xs), 1),
                "p99_ms": round(statistics.median(x["p99_ms"] for x in xs), 1),
                "cpu_ms_per_referral": round(
                    statistics.median(x["cpu_ms_per_referral"] for x in xs), 2
                ),
                "answers_2xx": sum(x["ok"] + x["warmup"]["ok"] for x in xs),
                "non_2xx_by_status": {s: n for s, n in statuses.items() if not s.startswith("2")},
                "odd_2xx": sum(x["odd_2xx"] + x["warmup"]["odd_2xx"] for x in xs),
            }
    per_run = {rate: [ratios(r["steps"], rate) for r in runs] for rate in rates}
    medians = {
        rate: {k: round(statistics.median(x[k] for x in xs), 3) for k in xs[0]}
        for rate, xs in per_run.items()
    }
    answered = {d: sum(steps[f"{d}@{rate}"]["answers_2xx"] for rate in rates) for d in DOORS}
    found = raw["stored"]
    durable = {
        "answers_2xx": answered,
        "referrals_in_database": found["referrals"],
        "fhir_message_rows": found["fhir_messages_new"],
        "every_2xx_durable": found["referrals"] == sum(answered.values())
        and found["fhir_messages_new"] == answered["fhir"],
    }
    met = {
        "throughput_at_max": medians["max"]["throughput_fhir_over_json"] >= GOAL,
        **{f"p99_at_{rate}": m["p99_json_over_fhir"] >= GOAL for rate, m in medians.items()},
    }
    return {
        "steps": steps,
        "ratios": medians,
        "ratios_per_run": per_run,
        "goal": GOAL,
        "goals_met": met,
        "durability": durable,
    }


def report(result: dict[str, Any]) -> None:
    """Print the medians, the ratios and the checks."""
    print(f"\nMedians of {result['runs']} runs ({result['step_seconds']:g} s per step):")
    head = ("door", "offered", "sustained/s", "p50 ms", "p99 ms", "cpu ms")
    print("{:5} {:>8} {:>12} {:>8} {:>8} {:>7}".format(*head))
    for step, s in result["steps"].items():
        door, rate = step.split("@")
        print(
            f"{door:5} {rate:>8} {s['throughput_per_s']:12.0f} {s['p50_ms']:8.1f} "
            f"{s['p99_ms']:8.1f} {s['cpu_ms_per_referral']:7.2f}  non-2xx {s['non_2xx_by_status']}"
        )
    print("\nratios (median of the runs' own): throughput FHIR/JSON, p99 JSON/FHIR, CPU FHIR/JSON")
    for rate, m in result["ratios"].items():
        print(
            f"  {rate:>5}: {m['throughput_fhir_over_json']:.2f}  {m['p99_json_over_fhir']:.2f}  "
            f"{m['cpu_fhir_over_json']:.2f}"
        )
    print(f"goals (>= {GOAL}) met: {result['goals_met']}")
    print(f"durability: {result['durability']}")
    load = result["load_average"]
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    server.load_options(p, "50,100,200", "bench/results/fhir-<time>.json")
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy the intake process in each max step into DIR (slows it: not for figures)",
    )
    p.add_argument("--kafka", default=os.environ.get("VRP_BENCH_KAFKA", "127.0.0.1:9092"))
    args = p.parse_args()
    bench = Bench(args)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    before = os.getloadavg()
    raw = asyncio.run(bench.run())
    result = {
        "benchmark": "bench.fhir",
        "command": [sys.executable, "-m", "bench.fhir", *sys.argv[1:]],
        "started": started,
        "machine": probe.machine(),
        "git": probe.git_commit(),
        "load_average": {"before": list(before), "after": list(os.getloadavg())},
        "method": (__doc__ or "").split("\n\n", 2)[2].splitlines(),
        "runs": args.runs,
        "step_seconds": args.duration,
        "concurrency": args.concurrency,
        "pool_size": args.pool_size,
        "intake_env": args.intake_env,
        "idle_cpu_share_of_one_core": raw["idle_cpu_share_of_one_core"],
        **summary(raw, bench.rates),
        "per_run": raw["runs"],
        "logs": str(bench.logs),
    }
    report(result)
    out = args.out or ROOT / "bench" / "results" / f"fhir-{bench.stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"figures written to {out}")
    if not result["durability"]["every_2xx_durable"]:
        sys.exit("a 2xx answer without its referral in the database")


if __name__ == "__main__":
    main()
