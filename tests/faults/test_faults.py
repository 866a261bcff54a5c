"""Faults on the real production mode: broker and database restarts, killed services.

Each test posts referrals at a steady rate as a partner system would (retrying 503s with the
same Idempotency-Key), causes one fault in the middle, and ends with the history check:
nothing lost, no second decision, no second alert. No service is restarted by hand.
The slower scenarios run with `deploy/test.sh --slow -k faults` (see the README).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from testkit.kafka import REPO, KafkaEnv
from testkit.production import Broker, Load, Production, check_history, production
from testkit.smtp import SmtpServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

RATE = 25.0
COUNT = 150


def quiet_logs(run: Production, limit: int = 200) -> dict[str, int]:
    """Lines each service logged; an outage is a few state changes, not a flood."""
    counts = {role: run.cluster.log(role).count("\n") for role in ("intake", "router", "notifier")}
    assert max(counts.values()) < limit, {r: run.cluster.tail(r) for r in counts}
    return counts


def report(name: str, figures: dict[str, object]) -> None:
    """Print the figures (pytest -s shows them; the README quotes a run)."""
    print(f"\n{name}: {json.dumps(figures)}")


@pytest.fixture
async def on_shared_broker(
    postgres_url: str, kafka: KafkaEnv, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[Production]:
    async with production(postgres_url, kafka, smtp_server, tmp_path) as run:
        yield run


async def during_load(run: Production, fault: object, prefix: str, after: float = 2.0) -> Load:
    """Post COUNT referrals at RATE; run `fault` (a coroutine) `after` seconds in."""
    load = Load(run)
    posting = asyncio.create_task(load.run_at(RATE, COUNT, prefix))
    await asyncio.sleep(after)
    await fault  # type: ignore[misc]
    await posting
    return load


async def readiness(run: Production) -> dict[str, str]:
    async with httpx.AsyncClient(timeout=5) as client:
        body: dict[str, str] = (await client.get(f"{run.cluster.intake_url}/ready")).json()
    return body


async def broker_outage(
    broker: Broker, seconds: float, run: Production, seen: list[dict[str, str]]
) -> None:
    await asyncio.to_thread(broker.stop)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(await readiness(run))
        await asyncio.sleep(0.5)
    await asyncio.to_thread(broker.start)


async def test_broker_stopped_for_20_seconds(on_own_broker: Production, own_broker: Broker) -> None:
    started = time.monotonic()
    seen: list[dict[str, str]] = []
    outage = broker_outage(own_broker, 20, on_own_broker, seen)
    load = await during_load(on_own_broker, outage, "broker20")
    figures = await check_history(on_own_broker, load)
    # Intake kept accepting (durably) and said so: degraded while the broker was away.
    assert {"status": "degraded", "database": "ok", "broker": "unavailable"} in seen
    assert await readiness(on_own_broker) == {"status": "ready", "database": "ok", "broker": "ok"}
    figures["log_lines"] = quiet_logs(on_own_broker)
    figures["total_s"] = round(time.monotonic() - started, 1)
    report("broker stopped 20 s", figures)


@pytest.mark.slow
async def test_broker_stopped_for_2_minutes(on_own_broker: Production, own_broker: Broker) -> None:
    outage = broker_outage(own_broker, 120, on_own_broker, [])
    load = await during_load(on_own_broker, outage, "broker120")
    figures = await check_history(on_own_broker, load, timeout=180)
    figures["log_lines"] = quiet_logs(on_own_broker)
    report("broker stopped 2 min", figures)


def postgres(action: str) -> None:
    subprocess.run([str(REPO / "deploy" / "postgres.sh"), action], check=True, capture_output=True)


async def database_restart() -> None:
    await asyncio.to_thread(postgres, "stop")
    await asyncio.sleep(3)
    await asyncio.to_thread(postgres, "start")


async def test_postgres_restarted(on_shared_broker: Production) -> None:
    load = await during_load(on_shared_broker, database_restart(), "pgrestart")
    figures = await check_history(on_shared_broker, load)
    assert 500 not in load.statuses
    intake_log = on_shared_broker.cluster.log("intake")
    assert "Traceback" not in intake_log, intake_log[-3000:]
    figures["log_lines"] = quiet_logs(on_shared_broker)
    report("PostgreSQL restarted", figures)


async def kill_and_restart(run: Production, role: str) -> None:
    run.cluster.kill(role, signal.SIGKILL)
    await asyncio.sleep(1)
    run.cluster.start(role)


async def test_notifier_killed_its_sends_are_taken_over_in_seconds(
    on_shared_broker: Production,
) -> None:
    load = await during_load(on_shared_broker, kill_and_restart(on_shared_broker, "notifier"), "nk")
    figures = await check_history(on_shared_broker, load, timeout=60)
    # The lease is 10 s: abandoned sends go out well before the old 2-minute claim timeout.
    assert figures["all_alerted_after_load_s"] < 30, figures
    report("notifier SIGKILL", figures)


@pytest.mark.slow
async def test_intake_killed(on_shared_broker: Production) -> None:
    load = await during_load(on_shared_broker, kill_and_restart(on_shared_broker, "intake"), "ik")
    report("intake SIGKILL", await check_history(on_shared_broker, load))


@pytest.mark.slow
async def test_smtp_down_for_30_seconds(on_shared_broker: Production) -> None:
    smtp = on_shared_broker.smtp

    async def outage() -> None:
        smtp.__exit__()
        await asyncio.sleep(30)
        smtp.restart()

    load = await during_load(on_shared_broker, outage(), "smtp30")
    figures = await check_history(on_shared_broker, load, timeout=300)
    # Alerts that failed while the server was away go once it is back, not at the end of
    # each one's own backoff (up to minutes).
    assert figures["all_alerted_after_load_s"] < 20, figures
    figures["log_lines"] = quiet_logs(on_shared_broker)
    report("SMTP down 30 s", figures)
