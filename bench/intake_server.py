"""The real `vrp intake` process as bench.intake and bench.fhir drive it: its topic
namespace, its environment, started and ready on loopback, and one load step of
bench/http_load.py against a server."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.broker import admin_settings, service_env

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def issue_key(url: str, organisation: str = "uhb") -> str:
    """A new API key of `organisation` in the database at `url`."""
    from services.intake.auth.keys import issue
    from vrp.store.database import Database
    from vrp.store.unit import unit_of_work

    db = Database(url)
    async with unit_of_work(db) as unit:
        key = await issue(unit, organisation)
    await db.dispose()
    return key


async def topics(bootstrap: str, namespace: str, create: bool) -> None:
    """Create (or delete) every topic of the demo configuration under `namespace`."""
    from aiokafka.admin import AIOKafkaAdminClient

    from vrp.config_files import load_configuration
    from vrp.provisioning.topics import all_topics, ensure_topics
    from vrp.settings import DEMO_CONFIG_DIR
    from vrp.transport.connection import aiokafka_options

    options = aiokafka_options(admin_settings(bootstrap))
    names = all_topics(load_configuration(DEMO_CONFIG_DIR))
    if create:
        await ensure_topics(options, names, 3, 1, namespace)
        return
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.delete_topics([namespace + n for n in names])
    finally:
        await admin.close()


def intake_env(
    database_url: str, bootstrap: str, namespace: str, pool_size: int, extra: Sequence[str] = ()
) -> dict[str, str]:
    """The environment of `vrp intake` (Kafka transport, the run's own principal, no rate
    limit, no trace export), plus `extra` VAR=VALUE settings."""
    return {
        **os.environ,
        "VRP_TRANSPORT": "kafka",
        "VRP_DATABASE_URL": database_url,
        "VRP_DATABASE_POOL_SIZE": str(pool_size),
        "VRP_KAFKA_BOOTSTRAP": bootstrap,
        "VRP_KAFKA_NAMESPACE": namespace,
        **service_env(admin_settings(bootstrap), namespace, "vrp-intake"),
        "VRP_RATE_LIMIT_PER_SECOND": "1000000",
        "VRP_RATE_LIMIT_BURST": "1000000",
        "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
        "OTEL_TRACES_EXPORTER": "none",
        **dict(kv.split("=", 1) for kv in extra),
    }


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server on `port` answers /ready (RuntimeError if it exits or takes 60 s)."""
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def start(
    name: str, args: Sequence[str], env: dict[str, str], port: int, logs: Path
) -> subprocess.Popen[bytes]:
    """`python <args>` started with output to logs/<name>.log, once ready on `port`."""
    log = logs / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, proc, log)
    except BaseException:
        stop([proc])
        raise
    print(f"{name}: pid {proc.pid}, http://127.0.0.1:{port}, log {log}", flush=True)
    return proc


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop the processes a benchmark started (by PID): terminate, then kill after 20 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load_args(
    port: int,
    token: str,
    rate: str,
    duration: float,
    concurrency: int,
    body: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one bench/http_load.py step (a fresh run id for its keys)."""
    return [
        sys.executable,
        "-m",
        "bench.http_load",
        *("--port", str(port), "--token", token, "--run", uuid.uuid4().hex[:8]),
        *("--rate", rate, "--duration", str(duration), "--concurrency", str(concurrency)),
        *("--body", str(body)),
        *extra,
    ]


def step(
    port: int,
    token: str,
    rate: str,
    duration: float,
    concurrency: int,
    body: Path,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """One load step in a separate process; its result (the last line it prints)."""
    out = subprocess.run(
        load_args(port, token, rate, duration, concurrency, body, extra),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=duration * 20 + 60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load step failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def load_options(p: argparse.ArgumentParser, rates: str, default_out: str) -> None:
    """The options every intake benchmark takes: runs, steps, rates, the max step's clients,
    the pool, extra intake environment and the output file."""
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per step")
    p.add_argument("--rates", default=rates, help="fixed rates, then max")
    p.add_argument("--concurrency", type=int, default=32, help="clients for the max step")
    p.add_argument("--pool-size", type=int, default=10, help="database connections per server")
    p.add_argument(
        "--intake-env",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="extra environment for intake, e.g. VRP_DATABASE_PRE_PING=false (repeatable)",
    )
    p.add_argument("--out", type=Path, help=f"JSON file (default {default_out})")
