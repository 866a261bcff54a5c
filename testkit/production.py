"""The production mode under test: three service processes on real Kafka and PostgreSQL,
and the history check every fault test ends with."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from services.intake.auth.keys import issue
from testkit.cluster import Cluster
from testkit.drained import drained
from testkit.infrastructure import reset_postgres
from testkit.kafka import REPO, KafkaEnv, wait_for_access
from testkit.ports import free_port
from testkit.referrals import example
from testkit.smtp import SmtpServer
from vrp.config_files import load_configuration
from vrp.events import topics
from vrp.provisioning.access import SERVICES
from vrp.provisioning.topics import all_topics, ensure_topics
from vrp.settings import DEMO_CONFIG_DIR, KafkaSecurity
from vrp.store.database import Database
from vrp.store.tables import decisions, notifications
from vrp.store.unit import unit_of_work


@dataclass
class Production:
    """A running three-process deployment and what a test needs to drive it."""

    cluster: Cluster
    namespace: str
    kafka: KafkaEnv
    auth: dict[str, str]
    smtp: SmtpServer
    db: Database


@asynccontextmanager
async def production(
    postgres_url: str,
    kafka: KafkaEnv,
    smtp: SmtpServer,
    logs: Path,
    env: dict[str, str] | None = None,
    tls: bool = True,
    role_env: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[Production]:
    """Start intake, router and notifier as OS processes, each as its own Kafka principal
    (role_env: extra variables for one role's process, e.g. its own metrics port)."""
    await reset_postgres(postgres_url)
    namespace = f"t{uuid.uuid4().hex[:8]}."
    config = load_configuration(DEMO_CONFIG_DIR)
    await ensure_topics(kafka.aiokafka(), all_topics(config), 3, 1, namespace)
    passwords: dict[str, str | None] = dict.fromkeys(SERVICES)
    if kafka.secure:  # each service as its own least-privilege principal
        passwords.update(kafka.access(namespace).provision_services())
        for service, topic in (
            ("vrp-intake", topics.DECIDED),
            ("vrp-router", topics.RECEIVED),
            ("vrp-notifier", topics.DECIDED),
        ):
            await wait_for_access(kafka, service, passwords[service] or "", namespace + topic)
    db = Database(postgres_url)
    async with unit_of_work(db) as unit:
        key = await issue(unit, "uhb")
    port = free_port()
    intake_url = f"http://127.0.0.1:{port}"
    common = {
        "VRP_TRANSPORT": "kafka",
        "VRP_DATABASE_URL": postgres_url,
        "VRP_KAFKA_NAMESPACE": namespace,
        "VRP_PORT": str(port),
        "VRP_PUBLIC_URL": intake_url,
        "VRP_SMTP_HOST": smtp.host,
        "VRP_SMTP_PORT": str(smtp.port),
        "VRP_POLL_INTERVAL": "0.2",
        "VRP_RATE_LIMIT_PER_SECOND": "100000",  # load tests post hundreds at once
        "VRP_RATE_LIMIT_BURST": "100000",
        "VRP_MAX_IN_FLIGHT": "100000",  # and so many at once are not refused with 503
        "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
        **(env or {}),
    }
    each = {
        role: kafka.process_env(f"vrp-{role}", passwords[f"vrp-{role}"], tls=tls and kafka.secure)
        | (role_env or {}).get(role, {})
        for role in ("intake", "router", "notifier")
    }
    cluster = Cluster(common, logs, intake_url, each)
    for role in ("intake", "router", "notifier"):
        cluster.start(role)
    try:
        cluster.wait_ready()
        yield Production(cluster, namespace, kafka, {"Authorization": f"Bearer {key}"}, smtp, db)
    finally:
        cluster.stop()
        await db.dispose()


@dataclass
class Load:
    """Referrals posted as a real partner system would: retrying 503s and broken connections
    with the same Idempotency-Key until the referral is accepted."""

    run: Production
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    retries: int = 0

    async def post(self, client: httpx.AsyncClient, key: str, give_up_after: float = 120) -> None:
        """Post one referral until it gets its 202."""
        deadline = time.monotonic() + give_up_after
        while True:
            try:
                r = await client.post(
                    f"{self.run.cluster.intake_url}/v1/referrals",
                    json=example(),
                    headers={**self.run.auth, "Idempotency-Key": key},
                )
            except httpx.TransportError:
                r = None
            if r is not None:
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code == 202:
                    self.accepted[key] = r.json()
                    return
                assert r.status_code in (409, 503), r.text  # never a 500
                assert r.headers["content-type"].startswith("application/problem+json")
            assert time.monotonic() < deadline, f"{key} was never accepted"
            self.retries += 1
            await asyncio.sleep(0.5)

    async def run_at(self, rate: float, count: int, prefix: str) -> None:
        """Open loop: start one POST every 1/rate seconds, whatever the earlier ones do."""
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = []
            for i in range(count):
                tasks.append(asyncio.create_task(self.post(client, f"{prefix}-{i:05d}")))
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*tasks)


async def read_all(run: Production, topic: str, quiet: float = 3.0) -> list[dict[str, Any]]:
    """Every event on a topic, read from the beginning until nothing new for `quiet` s."""
    consumer = AIOKafkaConsumer(
        run.namespace + topic,
        **run.kafka.aiokafka(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    seen.append(json.loads(rec.value))
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return seen


async def check_history(run: Production, load: Load, timeout: float = 120) -> dict[str, Any]:
    """Every 202 has one decision, every routed referral one alert to its team and one
    update to its referrer (resends only with the same Message-ID), no decision on a partner
    topic under two event ids. Returns figures."""
    ids = {a["id"] for a in load.accepted.values()}
    refs = {a["reference"] for a in load.accepted.values()}
    started = time.monotonic()

    def alerted(messages: list[Any]) -> bool:
        kinds = {(m["X-VRP-Referral"], m["X-VRP-Alert"]) for m in messages}
        return all((r, "new-referral") in kinds and (r, "status") in kinds for r in refs)

    while not alerted(run.smtp.mailbox.snapshot()):
        assert time.monotonic() - started < timeout, (
            f"{len(refs - {m['X-VRP-Referral'] for m in run.smtp.mailbox.snapshot()})} "
            f"referrals never alerted; notifier log: {run.cluster.tail('notifier')}"
        )
        await asyncio.sleep(0.2)
    recovered_in = time.monotonic() - started
    await drained(run.db, 60)  # a duplicate, if there were one, is sent by now
    async with run.db.engine.connect() as conn:
        decided = (
            await conn.execute(
                select(func.count()).select_from(decisions).where(decisions.c.referral_id.in_(ids))
            )
        ).scalar_one()
        sent_rows = (
            await conn.execute(
                select(notifications.c.referral_id, notifications.c.kind, func.count())
                .where(notifications.c.referral_id.in_(ids), notifications.c.status == "sent")
                .group_by(notifications.c.referral_id, notifications.c.kind)
            )
        ).all()
    assert decided == len(ids), "every accepted referral has exactly one decision"
    for kind in ("new-referral", "status"):
        once = {r for r, k, n in sent_rows if k == kind and n == 1}
        assert once == ids, f"one {kind} alert recorded per referral"
    message_ids: dict[tuple[str, str], set[str]] = {}
    emails = 0
    for m in run.smtp.mailbox.snapshot():
        if m["X-VRP-Referral"] in refs:
            emails += 1
            key = (m["X-VRP-Referral"], m["X-VRP-Alert"])
            message_ids.setdefault(key, set()).add(m["Message-ID"])
    assert all(len(v) == 1 for v in message_ids.values()), "a second alert (new Message-ID)"
    per_referral: dict[str, set[str]] = {}
    for event in await read_all(run, topics.partner_referrals("navigators")):
        if event["subject"] in ids:
            per_referral.setdefault(event["subject"], set()).add(event["id"])
    assert set(per_referral) == ids, "every routed referral reached the partner topic"
    assert all(len(v) == 1 for v in per_referral.values()), "a decision under two event ids"
    return {
        "accepted": len(ids),
        "statuses": dict(load.statuses),
        "client_retries": load.retries,
        "emails": emails,
        "resends_same_message_id": emails - len(message_ids),  # one per referral and kind
        "all_alerted_after_load_s": round(recovered_in, 1),
    }


@dataclass
class Broker:
    """A broker of the test's own (deploy/kafka.sh in another state folder and ports), so
    stopping it disturbs nothing else."""

    state: Path
    ports: dict[str, int]

    @classmethod
    def create(cls, state: Path) -> Broker:
        """Choose free ports for a broker kept in `state`."""
        names = ("VRP_KAFKA_PORT", "VRP_KAFKA_CONTROLLER_PORT", "VRP_KAFKA_INTERNAL_PORT")
        return cls(state, {n: free_port() for n in (*names, "VRP_KAFKA_TLS_PORT")})

    def _script(self, action: str) -> None:
        env = {
            **os.environ,
            "VRP_KAFKA_STATE": str(self.state),
            **{k: str(v) for k, v in self.ports.items()},
        }
        done = subprocess.run(
            [str(REPO / "deploy" / "kafka.sh"), action], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh {action} failed: {(done.stdout + done.stderr)[-2000:]}")

    def start(self) -> None:
        """Start (formatting the storage the first time) and wait until it serves."""
        self._script("start")

    def stop(self) -> None:
        """Controlled shutdown."""
        self._script("stop")

    def env(self) -> KafkaEnv:
        """How clients reach it."""
        return KafkaEnv(
            bootstrap=f"127.0.0.1:{self.ports['VRP_KAFKA_PORT']}",
            security=KafkaSecurity.SASL_PLAINTEXT,
            admin_password=(self.state / "admin.password").read_text().strip(),
            tls_bootstrap=f"127.0.0.1:{self.ports['VRP_KAFKA_TLS_PORT']}",
            ca_file=str(self.state / "tls" / "ca.pem"),
        )
