"""Intake, router and notifier as three OS processes on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from sqlalchemy import func, select

from services.intake.auth.keys import issue
from tests.conftest import free_port, reset_postgres
from tests.support.cluster import Cluster
from tests.support.kafka import KafkaEnv, wait_for_access
from tests.support.otlp import OtlpReceiver
from tests.support.partner import bearer, inbox_entry, submit
from tests.support.smtp import SmtpServer
from tests.test_event_contract import validate_against_asyncapi
from vrp.config_files import load_configuration
from vrp.events import topics
from vrp.provisioning.access import SERVICES
from vrp.provisioning.topics import all_topics, ensure_topics
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import decisions

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class Running:
    cluster: Cluster
    namespace: str
    kafka: KafkaEnv
    auth: dict[str, str]
    smtp: SmtpServer
    otlp: OtlpReceiver
    db: Database


@pytest.fixture(scope="module")
def smtp_module() -> Iterator[SmtpServer]:
    with SmtpServer(free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver(free_port()) as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def running(
    postgres_url: str,
    kafka: KafkaEnv,
    smtp_module: SmtpServer,
    otlp: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
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
    async with db.transaction() as conn:
        key = await issue(conn, "uhb")
    port = free_port()
    intake_url = f"http://127.0.0.1:{port}"
    env = {
        "VRP_TRANSPORT": "kafka",
        "VRP_DATABASE_URL": postgres_url,
        "VRP_KAFKA_NAMESPACE": namespace,
        "VRP_PORT": str(port),
        "VRP_PUBLIC_URL": intake_url,
        "VRP_SMTP_HOST": smtp_module.host,
        "VRP_SMTP_PORT": str(smtp_module.port),
        "VRP_POLL_INTERVAL": "0.2",
        "VRP_RATE_LIMIT_PER_SECOND": "100000",  # the kill test posts 200 referrals at once
        "VRP_RATE_LIMIT_BURST": "100000",
        "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    # The services talk to the broker as they would over a network: SASL_SSL, verifying
    # the broker's certificate against the CA deploy/kafka.sh made.
    role_env = {
        role: kafka.process_env(f"vrp-{role}", passwords[f"vrp-{role}"], tls=kafka.secure)
        for role in ("intake", "router", "notifier")
    }
    logs = Path(os.environ.get("VRP_TEST_LOGS") or tmp_path_factory.mktemp("logs"))
    cluster = Cluster(env, logs, intake_url, role_env)
    for role in ("intake", "router", "notifier"):
        cluster.start(role)
    try:
        cluster.wait_ready()
        yield Running(
            cluster,
            namespace,
            kafka,
            bearer(key),
            smtp_module,
            otlp,
            db,
        )
    finally:
        cluster.stop()
        await db.dispose()


Message = dict[str, Any]  # a Kafka record as read_topic returns it: value, headers, raw


def mine(referral_id: str) -> Callable[[list[Message]], list[Message]]:
    """A filter keeping the messages about one referral."""
    return lambda ms: [m for m in ms if m["value"]["subject"] == referral_id]


async def read_topic(
    run: Running, topic: str, until: Callable[[list[Message]], object], timeout: float = 30.0
) -> list[Message]:
    """Read a topic from the beginning with a plain aiokafka consumer until `until(messages)`."""
    consumer = AIOKafkaConsumer(
        run.namespace + topic,
        **run.kafka.aiokafka(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[Message] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(seen):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    headers = {k: v.decode() for k, v in rec.headers}
                    seen.append(
                        {
                            "value": json.loads(rec.value),
                            "headers": headers,
                            "raw": KafkaMessage(
                                headers=dict(rec.headers), key=rec.key, value=rec.value
                            ),
                        }
                    )
    finally:
        await consumer.stop()
    return seen


async def test_three_processes_route_a_referral_to_the_partner_topic_and_email(
    running: Running,
) -> None:
    async with httpx.AsyncClient(base_url=running.cluster.intake_url, timeout=10) as client:
        accepted = await submit(client, running.auth, "proc-0001")
    ours = mine(accepted["id"])
    messages = ours(
        await read_topic(running, topics.partner_referrals("navigators"), lambda ms: bool(ours(ms)))
    )
    assert messages, "the minimised referral reached the navigators' topic"
    event = messages[0]["value"]
    assert event["type"] == "uk.vrp.partner.referral.v1" and event["specversion"] == "1.0"
    data = event["data"]["data"]
    assert set(data) <= {
        "subject.name",
        "subject.date_of_birth",
        "subject.contact",
        "subject.local_authority",
        "reasons",
        "risk",
        "summary",
        "referrer.role",
        "referrer.contact",
    }
    assert data["subject.date_of_birth"] == "16-17"
    assert "9434765919" not in json.dumps(event)
    assert "traceparent" in messages[0]["headers"]
    # What a partner's own tooling sees: a valid CloudEvent, valid under the published schema.
    cloud_event = from_kafka_event(messages[0]["raw"])
    assert cloud_event.get_type() == "uk.vrp.partner.referral.v1"
    assert cloud_event.get_id() == event["id"]
    validate_against_asyncapi("PartnerReferral", event)
    # The sender follows it on its own status topic: routed, to whom, no personal data.
    statuses = ours(
        await read_topic(running, topics.partner_status("uhb"), lambda ms: bool(ours(ms)))
    )
    assert [
        (s["value"]["data"]["status"], s["value"]["data"]["organisation"]) for s in statuses
    ] == [("routed", "navigators")]
    validate_against_asyncapi("PartnerReferralStatus", statuses[0]["value"])
    assert await running.smtp.mailbox.until(
        lambda ms: any(m["X-VRP-Referral"] == accepted["reference"] for m in ms), 15
    )


async def test_spans_of_all_three_services_share_one_trace(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.cluster.intake_url, timeout=10) as client:
        accepted = await submit(client, running.auth, "proc-trace")
    assert await running.smtp.mailbox.until(
        lambda ms: any(m["X-VRP-Referral"] == accepted["reference"] for m in ms), 15
    )

    def services_in_trace() -> set[str]:
        ids = {
            s.trace_id
            for s in running.otlp.spans
            if accepted["id"] in s.attributes.get("vrp.referral_id", "")
        }
        return (
            {s.service for s in running.otlp.spans if s.trace_id in ids} if len(ids) == 1 else set()
        )

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(services_in_trace()) < 3:
        await asyncio.sleep(0.2)
    assert {"vrp-intake", "vrp-router", "vrp-notifier"} <= services_in_trace()


async def test_router_killed_mid_stream_routes_every_referral_exactly_once(
    running: Running,
) -> None:
    n = 200
    batch = uuid.uuid4().hex[:6]
    accepted: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=running.cluster.intake_url, timeout=30) as client:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                accepted.append(await submit(client, running.auth, f"kill-{batch}-{i:04d}"))
            if len(accepted) == n // 3:
                running.cluster.kill("router", signal.SIGKILL)
                running.cluster.start("router")

        await asyncio.gather(*(one(i) for i in range(n)))
    ids = {a["id"] for a in accepted}
    refs = {a["reference"] for a in accepted}
    assert len(ids) == n
    # The restarted router may still be starting when the last POST returns (2 busy cores).
    deadline = time.monotonic() + 60
    while running.cluster.log("router").count("vrp router running") < 2:
        assert time.monotonic() < deadline, "the router was not restarted"
        await asyncio.sleep(0.2)

    def emails_done(ms: list[Any]) -> bool:
        return len({m["X-VRP-Referral"] for m in ms} & refs) == n

    assert await running.smtp.mailbox.until(emails_done, 90), running.cluster.tail("router")
    assert running.cluster.log("router").count("vrp router running") == 2, "it was restarted"
    await asyncio.sleep(2)  # a duplicate would arrive now, if there were one
    counts = {r: len(running.smtp.mailbox.for_reference(r)) for r in refs}
    assert set(counts.values()) == {1}, "exactly one email per referral"
    async with running.db.engine.connect() as conn:
        decided = (
            await conn.execute(
                select(func.count()).select_from(decisions).where(decisions.c.referral_id.in_(ids))
            )
        ).scalar_one()
    assert decided == n
    events = await read_topic(
        running,
        topics.partner_referrals("navigators"),
        lambda ms: ids <= {m["value"]["subject"] for m in ms},
        timeout=60,
    )
    per_referral: dict[str, set[str]] = {}
    for m in events:
        if m["value"]["subject"] in ids:
            per_referral.setdefault(m["value"]["subject"], set()).add(m["value"]["id"])
    assert set(per_referral) == ids
    assert all(len(event_ids) == 1 for event_ids in per_referral.values())


async def test_intake_fills_the_receivers_inbox_from_partner_topics_and_publishes_responses(
    running: Running,
) -> None:
    async with running.db.transaction() as conn:
        navigators = bearer(await issue(conn, "navigators"))
    async with httpx.AsyncClient(base_url=running.cluster.intake_url, timeout=10) as client:
        accepted = await submit(client, running.auth, "proc-inbox")
        entry = await inbox_entry(
            client,
            accepted["id"],
            navigators,
            timeout=30,
            interval=0.2,
            explain=lambda: running.cluster.tail("intake"),
        )
        assert entry["referral"]["referral_id"] == accepted["id"]
        answer = await client.post(
            f"/v1/referrals/{accepted['id']}/response",
            json={"status": "accepted"},
            headers=navigators,
        )
        assert answer.status_code == 200, answer.text
    ours = mine(accepted["id"])
    [responded] = ours(await read_topic(running, topics.STATUS, lambda ms: bool(ours(ms))))
    assert responded["value"]["type"] == "uk.vrp.referral.responded.v1"
    assert responded["value"]["data"]["status"] == "accepted"
    assert responded["value"]["data"]["organisation"] == "navigators"
