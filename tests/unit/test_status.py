"""`vrp status`: the on-call screen's figures against a running embedded runtime, the
embedded log's per-group backlog, and consumer lag read from a real broker."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.commands.status import gather, kafka_lag
from services.demo import demo_key
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, submit
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.config_files import load_configuration
from vrp.domain.audit import CONFIG_LOADED
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralDecided
from vrp.settings import DEMO_CONFIG_DIR, Settings, TransportKind
from vrp.store import outbox as outbox_log
from vrp.store.database import Database
from vrp.store.tables import (
    audit_log,
    consumer_positions,
    dead_letter_originals,
    decisions,
    notifications,
    outbox,
    routed,
    timers,
)

GROUPS = {
    "vrp-intake",
    "vrp-intake-inbox",
    "vrp-intake-dead-letters",
    "vrp-router",
    "vrp-notifier",
    "vrp-notifier-updates",
}


def vrp_status(env: dict[str, str], exit_code: int = 0) -> dict[str, Any]:
    """`vrp status --json` as its own process, which must exit with exit_code; its output."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "status", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll check (without blocking the loop, so the runtime keeps working) until it holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def decided(conn: AsyncConnection) -> dict[str, str]:
    """Each decided referral's outcome."""
    rows = await conn.execute(select(decisions.c.referral_id, decisions.c.outcome))
    return {str(referral): str(outcome) for referral, outcome in rows}


def config_ending_soon(tmp_path: Path, days: int) -> Path:
    """The demo configuration with the GP domestic-abuse agreement ending in `days` days."""
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    agreements = target / "agreements.yaml"
    ends = (date.today() + timedelta(days=days)).isoformat()
    text = agreements.read_text()
    assert "valid_to: 2027-12-31" in text
    agreements.write_text(text.replace("valid_to: 2027-12-31", f"valid_to: {ends}", 1))
    return target


async def test_status_reports_a_running_embedded_system(tmp_path: Path) -> None:
    config = config_ending_soon(tmp_path, 10)
    url = sqlite_url(tmp_path)
    settings = runtime_settings(url, mail_dir=tmp_path / "mail", config_dir=config)
    db = Database(url)
    async with serving(settings) as served:
        uhb = bearer(demo_key("uhb"))
        routed_one = await submit(served.client, uhb)
        held_one = await submit(served.client, uhb, body=example(subject__postcode="LS1 1AA"))

        async def settled() -> bool:
            async with db.engine.connect() as conn:
                outcomes = await decided(conn)
                reminders = (
                    await conn.execute(select(func.count()).where(timers.c.kind == "reminder"))
                ).scalar()
                staged = (
                    await conn.execute(select(func.count()).select_from(notifications))
                ).scalar()
                # The runtime's record of the version it loaded, once the sealer has
                # chained it into the audit log (within seconds; later on a busy machine).
                sealed = (
                    await conn.execute(
                        select(func.count())
                        .select_from(audit_log)
                        .where(audit_log.c.kind == CONFIG_LOADED)
                    )
                ).scalar()
            return len(outcomes) == 2 and bool(reminders) and (staged or 0) >= 2 and bool(sealed)

        await until(settled)
        now = datetime.now(UTC)
        async with db.transaction() as conn:
            outcomes = await decided(conn)
            assert outcomes == {routed_one["id"]: "routed", held_one["id"]: "held"}
            # The routed referral's respond-by passes; one alert fails for good.
            await conn.execute(
                update(timers)
                .where(timers.c.kind == "reminder")
                .values(due_at=now - timedelta(hours=2))
            )
            first_alert = (
                await conn.execute(
                    select(notifications.c.id, notifications.c.organisation)
                    .where(notifications.c.referral_id == routed_one["id"])
                    .limit(1)
                )
            ).one()
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == first_alert.id)
                .values(status="failed", last_error="smtp-refused")
            )
            await conn.execute(
                dead_letter_originals.insert().values(
                    id=str(uuid.uuid4()),
                    event_id="e-1",
                    consumer=topics.ROUTER_GROUP,
                    topic=topics.RECEIVED,
                    position="7",
                    original=b"{}",
                    reason="unknown event type x.v1",
                    created_at=now,
                )
            )
            awaiting = (
                (
                    await conn.execute(
                        select(routed.c.organisation).where(routed.c.status == "awaiting")
                    )
                )
                .scalars()
                .all()
            )
        env = {"VRP_DATABASE_URL": url, "VRP_CONFIG_DIR": str(config)}
        report = await asyncio.to_thread(vrp_status, env, 1)  # the runtime keeps running

    await db.dispose()
    assert report["transport"] == "embedded"
    assert {g["group"] for g in report["consumer_lag"]} == GROUPS
    assert all(g["lag"] >= 0 and g["position"] is not None for g in report["consumer_lag"])
    assert report["held"]["count"] == 1 and report["held"]["oldest_at"] is not None
    overdue = report["overdue_acceptances"]
    assert overdue["count"] == len(awaiting) >= 1
    assert overdue["oldest_age_seconds"] >= 7000  # respond-by two hours ago
    assert report["failed_alerts"]["count"] == 1
    assert report["failed_alerts"]["by_organisation"] == {first_alert.organisation: 1}
    assert report["dead_letters"]["count"] == 1
    [dead] = report["dead_letters"]["latest"]
    assert (dead["consumer"], dead["reason"]) == (topics.ROUTER_GROUP, "unknown event type x.v1")
    assert report["disabled_webhooks"] == []
    [ending] = report["agreements_expiring"]
    assert (ending["id"], ending["days_left"]) == ("isa-gp-domestic-abuse", 10)
    cfg = report["configuration"]
    assert cfg["version"] == load_configuration(config).version
    assert cfg["load_time"] is not None  # the runtime audits the version it loads
    assert cfg["last_loaded"]["version"] == cfg["version"]
    assert cfg["last_decision_version"] == cfg["version"]
    # Degraded (exit 1): referrals move, but these need a person.
    assert report["verdict"]["status"] == "degraded"
    assert set(report["verdict"]["reasons"]) == {
        "degraded: 1 dead letter(s)",
        "degraded: 1 alert(s) failed for good",
        f"degraded: {len(awaiting)} acceptance(s) overdue",
    }


async def test_embedded_backlog_counts_unread_rows_of_each_groups_topics(
    sqlite_db: Database,
) -> None:
    async with sqlite_db.transaction() as conn:
        for topic in (topics.RECEIVED, topics.RECEIVED, topics.DECIDED):
            env = Envelope.wrap(_decided(), "test", "r-1")
            await outbox_log.add(conn, "test", topic, "r-1", env)
        first = (await conn.execute(select(func.min(outbox.c.id)))).scalar_one()
        await conn.execute(
            consumer_positions.insert().values(consumer=topics.ROUTER_GROUP, position=first)
        )
    url = str(sqlite_db.engine.url)
    report = await gather(datetime.now(UTC), Settings(database_url=url))
    lag = {g["group"]: g for g in report["consumer_lag"]}
    assert lag[topics.ROUTER_GROUP]["lag"] == 1  # read the first received, not the second
    assert lag[topics.ROUTER_GROUP]["position"] == first
    assert lag[topics.NOTIFIER_GROUP]["lag"] == 1 and lag[topics.NOTIFIER_GROUP]["position"] is None
    assert lag[topics.INTAKE_GROUP]["lag"] == 1  # decided, alerts
    assert lag[topics.NOTIFIER_UPDATES_GROUP]["lag"] == 0
    assert lag[topics.NOTIFIER_GROUP]["oldest_age_seconds"] is not None
    assert "outbox" not in report  # embedded rows are never "published"
    cfg = report["configuration"]
    assert cfg["load_time"] is None and cfg["load_time_note"] == "load time not recorded"


def _decided() -> ReferralDecided:
    return ReferralDecided.model_validate(
        {
            "referral_id": "r-1",
            "reference": "REF-1",
            "source_org": "uhb",
            "config_version": "v",
            "outcome": "held",
            "recipients": [],
            "held_reasons": ["none"],
            "decided_at": datetime.now(UTC),
            "urgency": "high",
        }
    )


async def test_an_unreachable_broker_is_reported_not_raised() -> None:
    settings = Settings(transport=TransportKind.KAFKA, kafka_bootstrap="127.0.0.1:1")
    lags, problem = await kafka_lag(settings)
    assert lags == []
    assert problem is not None and "127.0.0.1:1 unreachable" in problem


@pytest.mark.kafka
@pytest.mark.postgres
async def test_kafka_lag_per_group_and_unpublished_outbox(
    kafka: KafkaEnv, pg_db: Database, postgres_url: str
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    namespace = f"t{uuid.uuid4().hex[:8]}."
    topic = namespace + topics.DECIDED
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka.aiokafka())
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, f"event {n}".encode())
    finally:
        await producer.stop()
    group = namespace + topics.NOTIFIER_GROUP
    committer = AIOKafkaConsumer(**kafka.aiokafka(), group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        partition = TopicPartition(topic, 0)
        committer.assign([partition])
        await committer.commit({partition: 2})  # read two of the five
    finally:
        await committer.stop()
    async with pg_db.transaction() as conn:
        await outbox_log.add(
            conn, "router", topics.DECIDED, "r-1", Envelope.wrap(_decided(), "t", "r-1")
        )

    settings = kafka.settings().model_copy(
        update={
            "transport": TransportKind.KAFKA,
            "kafka_namespace": namespace,
            "database_url": postgres_url,
        }
    )
    report = await gather(datetime.now(UTC), settings)
    assert report["consumer_lag_error"] is None
    lag = {g["group"]: g for g in report["consumer_lag"]}
    assert set(lag) == {namespace + g for g in GROUPS}
    assert (lag[group]["lag"], lag[group]["partitions"]) == (3, 1)
    others = [g for name, g in lag.items() if name != group]
    assert all(g["lag"] is None and g["note"] == "no committed offsets" for g in others)
    [router] = report["outbox"]
    assert (router["producer"], router["unpublished"]) == ("router", 1)
    assert router["oldest_age_seconds"] is not None
