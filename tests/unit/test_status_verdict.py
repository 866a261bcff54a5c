"""`vrp status` as a probe: exit 0 healthy, 1 degraded, 2 failing, the reasons first, and
broker credentials told apart from a broker that is down."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from services.commands.status import kafka_lag
from services.commands.verdict import Level, judge
from services.demo import demo_key
from testkit.drained import drained
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, submit
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralDecided
from vrp.settings import DEMO_CONFIG_DIR, TransportKind
from vrp.store import outbox as outbox_log
from vrp.store.database import Database
from vrp.store.tables import outbox


def status(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """`vrp status` as its own process, as cron or a probe would run it."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "status", *options],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


async def test_an_idle_system_that_routed_a_referral_is_healthy(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    settings = runtime_settings(url, mail_dir=tmp_path / "mail")
    async with serving(settings) as served:
        await submit(served.client, bearer(demo_key("uhb")))
        db = Database(url)
        await drained(db)
        await db.dispose()
        env = {"VRP_DATABASE_URL": url, "VRP_CONFIG_DIR": str(DEMO_CONFIG_DIR)}
        # In threads: the runtime keeps running (and releasing its SQLite locks) meanwhile.
        text = await asyncio.to_thread(status, env)
        report = json.loads((await asyncio.to_thread(status, env, "--json")).stdout)
    assert text.returncode == 0, text.stdout
    assert text.stdout.splitlines()[0].endswith(": HEALTHY")
    assert report["verdict"] == {"status": "healthy", "exit_code": 0, "reasons": []}


def test_an_unreachable_database_fails_with_exit_2() -> None:
    env = {"VRP_DATABASE_URL": "postgresql+asyncpg://vrp:vrp@127.0.0.1:1/vrp"}
    result = status(env)
    assert result.returncode == 2
    first, reason = result.stdout.splitlines()[:2]
    assert first.endswith(": FAILING")
    assert reason == "  failing: database unreachable (ConnectionRefusedError)"
    report = json.loads(status(env, "--json").stdout)
    assert report["verdict"]["exit_code"] == 2


async def test_a_configuration_that_cannot_load_fails(sqlite_db: Database, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    (config / "agreements.yaml").write_text("agreements: [unterminated\n")
    env = {"VRP_DATABASE_URL": str(sqlite_db.engine.url), "VRP_CONFIG_DIR": str(config)}
    result = status(env)
    assert result.returncode == 2, result.stdout
    assert "failing: configuration cannot be loaded" in result.stdout


async def test_events_waiting_degrade_after_a_minute_and_fail_after_five(
    sqlite_db: Database,
) -> None:
    env = {"VRP_DATABASE_URL": str(sqlite_db.engine.url)}
    async with sqlite_db.transaction() as conn:
        await outbox_log.add(
            conn, "router", topics.DECIDED, "r-1", Envelope.wrap(_decided(), "t", "r-1")
        )
    for minutes, code in ((0, 0), (2, 1), (6, 2)):
        async with sqlite_db.transaction() as conn:
            at = datetime.now(UTC) - timedelta(minutes=minutes)
            await conn.execute(update(outbox).values(created_at=at))
        result = status(env)
        assert result.returncode == code, result.stdout
    assert "failing: consumer group vrp-notifier: oldest event waiting" in result.stdout


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


@pytest.mark.kafka
async def test_broker_credentials_are_told_apart_from_reachability(kafka: KafkaEnv) -> None:
    base = kafka.settings().model_copy(update={"transport": TransportKind.KAFKA})
    if base.kafka_username is None:
        pytest.fail("the test broker must run with SASL (deploy/kafka.sh does)")
    cases: dict[str, dict[str, Any]] = {
        "credentials missing: set VRP_KAFKA_USERNAME and VRP_KAFKA_PASSWORD": {
            "kafka_username": None
        },
        "refused the credentials (VRP_KAFKA_USERNAME / VRP_KAFKA_PASSWORD)": {
            "kafka_password": SecretStr("not-the-password")
        },
        "unreachable": {"kafka_bootstrap": "127.0.0.1:1"},
    }
    for expected, change in cases.items():
        settings = base.model_copy(update=change)
        lags, problem = await kafka_lag(settings)
        assert lags == [] and problem is not None and problem.endswith(expected), problem
    lags, problem = await kafka_lag(base)
    assert problem is None and lags


def report(**changes: Any) -> dict[str, Any]:
    """A healthy `vrp status` report (Kafka transport), with changes."""
    base: dict[str, Any] = {
        "transport": "kafka",
        "outbox": [{"producer": "router", "unpublished": 0, "oldest_age_seconds": None}],
        "consumer_lag": [{"group": "vrp-router", "lag": 0, "partitions": 3, "note": None}],
        "consumer_lag_error": None,
        "dead_letters": {"count": 0, "latest": []},
        "held": {"count": 0, "oldest_age_seconds": None},
        "overdue_acceptances": {"count": 0},
        "failed_alerts": {"count": 0},
        "disabled_webhooks": [],
        "agreements_expiring": [],
        "configuration": {"error": None, "version": "v2", "last_loaded": {"version": "v2"}},
    }
    return base | changes


@pytest.mark.parametrize(
    ("changes", "level", "reason"),
    [
        ({}, Level.HEALTHY, None),
        ({"outbox": [{"producer": "intake", "oldest_age_seconds": 60.0}]}, Level.HEALTHY, None),
        (
            {"outbox": [{"producer": "intake", "oldest_age_seconds": 61.0}]},
            Level.DEGRADED,
            "outbox of intake",
        ),
        (
            {"outbox": [{"producer": "intake", "oldest_age_seconds": 301.0}]},
            Level.FAILING,
            "outbox of intake",
        ),
        ({"consumer_lag_error": "broker x unreachable"}, Level.FAILING, "broker x unreachable"),
        (
            {
                "consumer_lag": [
                    {"group": "g", "lag": None, "note": "GroupAuthorizationFailedError"}
                ]
            },
            Level.DEGRADED,
            "lag unknown (GroupAuthorizationFailedError)",
        ),
        (
            {"consumer_lag": [{"group": "g", "lag": 1001, "note": None}]},
            Level.DEGRADED,
            "1001 events behind",
        ),
        ({"consumer_lag": [{"group": "g", "lag": 1000, "note": None}]}, Level.HEALTHY, None),
        ({"held": {"count": 2, "oldest_age_seconds": 23 * 3600.0}}, Level.HEALTHY, None),
        (
            {"held": {"count": 2, "oldest_age_seconds": 25 * 3600.0}},
            Level.DEGRADED,
            "2 held for triage",
        ),
        ({"agreements_expiring": [{"id": "isa-a", "days_left": 8}]}, Level.HEALTHY, None),
        ({"agreements_expiring": [{"id": "isa-a", "days_left": 7}]}, Level.DEGRADED, "isa-a"),
        ({"disabled_webhooks": [{"organisation": "o"}]}, Level.DEGRADED, "1 webhook(s) disabled"),
        (
            {"configuration": {"error": None, "version": "v3", "last_loaded": {"version": "v2"}}},
            Level.DEGRADED,
            "v3 on disk is not in force",
        ),
        (
            {"configuration": {"error": "bad yaml", "version": None, "last_loaded": None}},
            Level.FAILING,
            "bad yaml",
        ),
        (
            {
                "configuration": {
                    "error": "agreements.yaml:3: bad yaml",
                    "version": None,
                    "last_loaded": {"version": "v2", "at": "2026-12-07T10:00:00+00:00"},
                }
            },
            Level.DEGRADED,
            "fail to load: agreements.yaml:3: bad yaml; the services keep version v2",
        ),
    ],
)
def test_the_verdict_on_each_finding(
    changes: dict[str, Any], level: Level, reason: str | None
) -> None:
    verdict = judge(report(**changes))
    assert verdict.level is level
    if reason is None:
        assert verdict.reasons == []
    else:
        assert any(reason in r for r in verdict.reasons), verdict.reasons
