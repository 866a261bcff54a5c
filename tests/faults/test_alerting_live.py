"""The alerting rules on the real stack: the three service processes on a broker of the
test's own and the shared PostgreSQL, scraped every second by a real Prometheus server
(deploy/prometheus.sh) loading deploy/monitoring/alerts.yml, while the router falls behind
and the broker is stopped; the outbox-backlog and consumer-lag alerts fire, then resolve.

The rules are the repository's, shortened by one documented transformation (`shortened`):
every `for:` becomes FOR, and the two thresholds in SHORTENED are lowered so that a test
of a minute reaches them. Nothing else in the rules changes.

A broker outage alone leaves the consumer-lag gauges at 0: nothing reaches the topics
while the broker is down, and each consumer counts what it has fetched and not processed
(measured: 0 in every group through a 38 s stop, 9 for one scrape after it). So the test
also holds a lock on the router's `decisions` table, as a stuck database would, while
referrals arrive: the router fetches them and cannot process them, and its group's lag is
real. Then it stops the broker with referrals still arriving at intake, whose outbox ages.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select, text

from testkit.drained import drained
from testkit.ports import free_port
from testkit.production import Broker, Load, Production, production
from testkit.smtp import SmtpServer
from vrp.store.database import Database
from vrp.store.tables import decisions

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.prometheus]

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
FOR = "2s"
SHORTENED = {
    # alert: (the threshold in alerts.yml, the one the test uses)
    "VrpOutboxBacklogOld": ("> 300", "> 8"),
    "VrpConsumerLagHigh": ("> 1000", "> 0"),
}
OUTBOX = ("VrpOutboxBacklogOld", "producer", "intake")
LAG = ("VrpConsumerLagHigh", "group", "vrp-router")
LAG_SERIES = 'vrp_consumer_lag{group="vrp-router"}'
OUTAGE = 40.0
"""Seconds the broker stays down at least (the alerts must keep firing throughout)."""
PERSONAL = ("Alex", "Fictional", "9434765919", "B10 0AA", "2010-03-14", "Sam Example")


def shortened(target: Path) -> Path:
    """alerts.yml with every `for:` set to FOR and the SHORTENED thresholds lowered."""
    doc = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    rules = {r["alert"]: r for group in doc["groups"] for r in group["rules"]}
    for rule in rules.values():
        if "for" in rule:
            rule["for"] = FOR
    for name, (old, new) in SHORTENED.items():
        expr = rules[name]["expr"]
        assert expr.rstrip().endswith(old), f"{name}: the rule changed; update SHORTENED"
        rules[name]["expr"] = expr.rstrip()[: -len(old)] + new
    target.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return target


def scrape_config(folder: Path, targets: dict[str, str]) -> Path:
    """deploy/monitoring/prometheus.yml every second, on `targets` (job: host:port), with
    the shortened rules."""
    doc = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    doc["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
    doc["rule_files"] = [str(shortened(folder / "alerts.yml"))]
    for job in doc["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    assert {j["job_name"] for j in doc["scrape_configs"]} == set(targets)
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@contextmanager
def prometheus(binary: Path, config: Path, folder: Path) -> Iterator[str]:
    """A Prometheus server on a free loopback port, its storage in `folder`; stopped on exit."""
    url = f"http://127.0.0.1:{free_port()}"
    log = (folder / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (folder / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus never became ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker.create(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def on_own_broker(
    postgres_url: str, own_broker: Broker, smtp: SmtpServer, tmp_path: Path
) -> AsyncIterator[tuple[Production, dict[str, str]]]:
    ports = {"router": free_port(), "notifier": free_port()}
    role_env = {role: {"VRP_METRICS_PORT": str(port)} for role, port in ports.items()}
    async with production(postgres_url, own_broker.env(), smtp, tmp_path, role_env=role_env) as run:
        targets = {f"{role}": f"127.0.0.1:{port}" for role, port in ports.items()}
        targets["intake"] = run.cluster.intake_url.removeprefix("http://")
        yield run, targets


class Alerts:
    """Prometheus' alerts API, and every alert it showed (for the personal-data check)."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url
        self.seen: list[dict[str, Any]] = []

    async def firing(self) -> set[tuple[str, str, str]]:
        """(alertname, label, value) of the OUTBOX and LAG alerts now firing."""
        body = (await self.client.get(f"{self.url}/api/v1/alerts")).json()
        alerts = body["data"]["alerts"]
        self.seen += alerts
        return {
            (name, label, value)
            for a in alerts
            if a["state"] == "firing"
            for name, label, value in (OUTBOX, LAG)
            if a["labels"]["alertname"] == name and a["labels"].get(label) == value
        }

    async def until(self, wanted: set[tuple[str, str, str]], exact: bool, timeout: float) -> None:
        """Poll until the firing set includes (or, exact, equals) wanted."""
        deadline = time.monotonic() + timeout
        while True:
            now = await self.firing()
            if (now == wanted) if exact else (wanted <= now):
                return
            assert time.monotonic() < deadline, f"firing {now}, wanted {wanted}"
            await asyncio.sleep(0.5)

    async def scraped(self, query: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{self.url}/api/v1/query", params={"query": query})
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result


async def blocked_inserts(db: Database) -> int:
    """Sessions waiting for a lock on the decisions table."""
    async with db.engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'decisions'::regclass"
        )
        return int((await conn.execute(query)).scalar_one())


async def test_outbox_and_lag_alerts_fire_through_an_outage_and_resolve_after_it(
    on_own_broker: tuple[Production, dict[str, str]],
    own_broker: Broker,
    prometheus_server: Path,
    tmp_path: Path,
) -> None:
    run, targets = on_own_broker
    started = time.monotonic()
    load = Load(run)
    both = {OUTBOX, LAG}
    folder = tmp_path / "prometheus"
    folder.mkdir()
    config = scrape_config(folder, targets)
    async with httpx.AsyncClient(timeout=10) as client:
        with prometheus(prometheus_server, config, folder) as url:
            alerts = Alerts(client, url)

            async def up() -> bool:
                # All three scraped, and the router's consumer has fetched (its lag known).
                live = {s["metric"]["job"] for s in await alerts.scraped("up == 1")}
                return live == set(targets) and bool(await alerts.scraped(LAG_SERIES))

            deadline = time.monotonic() + 60
            while not await up():
                assert time.monotonic() < deadline, await alerts.scraped("up")
                await asyncio.sleep(0.5)
            assert await alerts.firing() == set()

            # The router stuck on a lock while referrals arrive: its group's lag is real.
            async with run.db.engine.connect() as lock:
                await lock.execute(text("LOCK TABLE decisions IN EXCLUSIVE MODE"))
                await load.post(client, "alerting-live-0000")
                deadline = time.monotonic() + 30
                while not await blocked_inserts(run.db):
                    assert time.monotonic() < deadline, run.cluster.tail("router")
                    await asyncio.sleep(0.2)
                for i in range(1, 11):
                    await load.post(client, f"alerting-live-{i:04d}")
                await alerts.until({LAG}, exact=True, timeout=60)
                lag_fired = time.monotonic() - started

                # The broker stops; intake keeps accepting, its outbox ages.
                stopped = time.monotonic()
                await asyncio.to_thread(own_broker.stop)
                for i in range(11, 14):
                    await load.post(client, f"alerting-live-{i:04d}")
                await alerts.until(both, exact=True, timeout=60)
                both_fired = time.monotonic() - stopped
                while time.monotonic() - stopped < OUTAGE:  # and keep firing throughout
                    assert await alerts.firing() == both
                    await asyncio.sleep(1)
                await asyncio.to_thread(own_broker.start)
                await lock.rollback()  # releases the lock
            restarted = time.monotonic()
            await alerts.until(set(), exact=True, timeout=90)
            resolved = time.monotonic() - restarted
            kafka_only = await alerts.scraped(
                "vrp_outbox_backlog or vrp_outbox_oldest_unpublished_seconds"
            )

    # Every accepted referral was decided once the router and the broker were back.
    await drained(run.db, 60)
    ids = {a["id"] for a in load.accepted.values()}
    async with run.db.engine.connect() as conn:
        query = select(func.count()).select_from(decisions).where(decisions.c.referral_id.in_(ids))
        assert (await conn.execute(query)).scalar_one() == len(ids) == 14
    # The relays' gauges, which only the Kafka processes export, were scraped.
    assert {s["metric"]["producer"] for s in kafka_only} == {"intake", "router", "notifier"}
    # Alerts carry codes and numbers only.
    shown = json.dumps(alerts.seen)
    assert ids and not any(i in shown for i in ids)
    assert not any(p in shown for p in PERSONAL)
    print(
        f"\nalerting live: lag fired {lag_fired:.1f} s after start, both firing "
        f"{both_fired:.1f} s after the broker stopped, resolved {resolved:.1f} s after it "
        f"started again; {len(ids)} referrals, all decided"
    )
