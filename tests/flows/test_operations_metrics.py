"""The telemetry on-call reads: request metrics by route template, receipt-to-alert latency,
the `vrp status` figures as gauges, configuration reloads (embedded runtime, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from services.demo import demo_key
from testkit.drained import drained
from testkit.partner import bearer, post_referral, submit
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.events import topics
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import (
    dead_letter_originals,
    disabled_endpoints,
    notifications,
    referrals,
    timers,
)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
AWAY = "LS1 1AA"  # outside every demo intervention's area: held for the hub
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


async def scrape(client: httpx.AsyncClient) -> Series:
    """Every sample of one /metrics scrape, by name and label set."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """The sum of name's samples whose labels include labels (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and wanted <= ls)


def samples(series: Series, name: str) -> list[dict[str, str]]:
    """The label sets of name's samples."""
    return [dict(ls) for (n, ls) in series if n == name]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll check (the runtime keeps working meanwhile) until it holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def vrp_status(env: dict[str, str]) -> dict[str, Any]:
    """`vrp status --json` as its own process, as on-call runs it; its parsed output."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "status", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    # Healthy when idle, degraded by the dead letter, overdue acceptance, ...: never failing.
    assert result.returncode == report["verdict"]["exit_code"] in (0, 1), result.stderr
    return report


async def test_requests_are_counted_by_route_template_and_status_class(tmp_path: Path) -> None:
    # A small burst, so the partner's fifth or so request is refused (429); small bodies,
    # so the body limit (a middleware before routing) refuses one (413).
    settings = runtime_settings(
        sqlite_url(tmp_path),
        mail_dir=tmp_path / "mail",
        rate_limit_per_second=0.01,
        rate_limit_burst=5,
        max_body_bytes=8 * 1024,
    )
    uhb = bearer(demo_key("uhb"))
    unknown = str(uuid.uuid4())
    async with serving(settings) as served:
        client = served.client
        before = await scrape(client)
        accepted = await submit(client, uhb)
        assert (await client.get(f"/v1/referrals/{unknown}", headers=uhb)).status_code == 404
        assert (await client.get(f"/nothing/here/{unknown}")).status_code == 404
        invalid = await post_referral(client, uhb, body={"subject": {}})
        assert invalid.status_code == 422, invalid.text
        huge = await client.post(
            "/v1/referrals",
            content=b"{" + b" " * 9000 + b"}",
            headers={**uhb, "Content-Type": "application/json", "Idempotency-Key": "big"},
        )
        assert huge.status_code == 413, huge.text
        limited = 0
        for _ in range(10):
            if (await post_referral(client, uhb)).status_code == 429:
                limited += 1
                break
        assert limited == 1, "the partner was never rate limited"
        after = await scrape(client)

    def moved(**labels: str) -> float:
        name = "vrp_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    post, get = {"route": "/v1/referrals", "method": "POST"}, {"method": "GET"}
    one = "/v1/referrals/{referral_id}"
    assert moved(**post, status_class="2xx") >= 1
    assert moved(**post, status_class="4xx") >= 3  # 422, 413 (before routing), 429
    assert moved(route=one, **get, status_class="4xx") == 1
    assert moved(route="unmatched", **get, status_class="4xx") == 1
    assert moved(route="/metrics", **get, status_class="2xx") >= 1
    assert moved(status_class="5xx") == 0
    # Every request is timed under the same route and method.
    timed = value(after, "vrp_http_request_duration_seconds_count", **post)
    assert timed == value(after, "vrp_http_requests_total", **post)
    assert value(after, "vrp_http_request_duration_seconds_count", route=one, method="GET") == 1

    # Routes are the app's templates: no id, no raw path.
    routes = {ls["route"] for ls in samples(after, "vrp_http_requests_total")}
    assert "unmatched" in routes and one in routes
    for route in routes:
        assert not UUID.search(route) and accepted["reference"] not in route, route
        assert route == "unmatched" or route.startswith("/"), route
    labels = {v for (_, ls) in after for (_, v) in ls}
    assert not any(UUID.search(label) for label in labels), labels


async def test_a_teams_first_alert_is_timed_from_the_referrals_receipt(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    db = Database(url)
    offset = timedelta()

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    uhb = bearer(demo_key("uhb"))
    try:
        async with serving(runtime_settings(url, mail_dir=tmp_path / "mail"), clock=clock) as s:
            started = time.monotonic()
            routed = await submit(s.client, uhb)
            held = await submit(s.client, uhb, body=example(subject__postcode=AWAY))

            async def first_alerts_sent() -> list[str]:
                async with db.engine.connect() as conn:
                    rows = await conn.execute(
                        select(notifications.c.channel).where(
                            notifications.c.kind == "new-referral",
                            notifications.c.status == "sent",
                            notifications.c.referral_id.in_([routed["id"], held["id"]]),
                        )
                    )
                    return [str(c) for c in rows.scalars()]

            async def sent() -> bool:
                return len(await first_alerts_sent()) >= 2  # the team's and the hub's

            await until(sent)
            await drained(db)
            channels = await first_alerts_sent()
            elapsed = time.monotonic() - started
            first = await scrape(s.client)

            # Past the acceptance SLA: the reminder is an alert too, but not a first one.
            offset = timedelta(days=7)
            assert s.runtime.timers is not None
            s.runtime.timers.wake()

            async def reminded() -> bool:
                async with db.engine.connect() as conn:
                    n = await conn.execute(
                        select(func.count())
                        .select_from(notifications)
                        .where(notifications.c.kind == "reminder", notifications.c.status == "sent")
                    )
                    return bool(n.scalar())

            await until(reminded)
            await drained(db)
            later = await scrape(s.client)
    finally:
        await db.dispose()

    for channel in set(channels):
        count = value(first, "vrp_referral_alert_seconds_count", channel=channel)
        assert count == channels.count(channel), (channel, channels)
        total = value(first, "vrp_referral_alert_seconds_sum", channel=channel)
        assert 0 < total <= elapsed * count
        # Nothing counted for the reminders.
        assert value(later, "vrp_referral_alert_seconds_count", channel=channel) == count
    assert value(first, "vrp_referral_alert_seconds_count") == len(channels)
    buckets = samples(first, "vrp_referral_alert_seconds_bucket")
    assert {b["channel"] for b in buckets} == set(channels)


async def test_the_status_gauges_equal_what_vrp_status_reports(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    settings = runtime_settings(url, mail_dir=tmp_path / "mail", config_dir=config)
    db = Database(url)
    uhb = bearer(demo_key("uhb"))
    try:
        async with serving(settings) as served:
            await submit(served.client, uhb)
            held = await submit(served.client, uhb, body=example(subject__postcode=AWAY))

            async def settled() -> bool:
                async with db.engine.connect() as conn:
                    held_now = await conn.execute(
                        select(referrals.c.status).where(referrals.c.id == held["id"])
                    )
                    reminders = await conn.execute(
                        select(func.count()).where(timers.c.kind == "reminder")
                    )
                    return held_now.scalar() == "held" and bool(reminders.scalar())

            await until(settled)
            await drained(db)
            # An idle system: every embedded group is at the end of its own topics.
            idle = await scrape(served.client)
            env = {"VRP_DATABASE_URL": url, "VRP_CONFIG_DIR": str(config)}
            idle_report = await asyncio.to_thread(vrp_status, env)

            now = datetime.now(UTC)
            async with db.transaction() as conn:
                # A respond-by passed, an alert failed for good, a dead letter, a webhook
                # endpoint gone.
                await conn.execute(
                    update(timers)
                    .where(timers.c.kind == "reminder")
                    .values(due_at=now - timedelta(hours=2))
                )
                first = (await conn.execute(select(notifications.c.id).limit(1))).scalar_one()
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id == first)
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
                await conn.execute(
                    disabled_endpoints.insert().values(
                        organisation="uhb",
                        url="https://hooks.uhb.example/vrp",
                        disabled_at=now,
                        reason="410-gone",
                    )
                )
            report = await asyncio.to_thread(vrp_status, env)
            gauges = await scrape(served.client)
            version = served.runtime.config().version
            # The hub routes the held referral: it no longer waits (the decision stays).
            async with db.transaction() as conn:
                await conn.execute(
                    update(referrals).where(referrals.c.id == held["id"]).values(status="routed")
                )
            triaged = await asyncio.to_thread(vrp_status, env)
            after_triage = await scrape(served.client)
    finally:
        await db.dispose()

    lag = {g["group"]: g["lag"] for g in idle_report["consumer_lag"]}
    assert lag and set(lag.values()) == {0}, lag
    for group, n in lag.items():
        assert value(idle, "vrp_consumer_lag", group=group) == n, (group, idle)
    assert len(samples(idle, "vrp_consumer_lag")) == len(lag)

    figures = {
        "vrp_dead_letters": report["dead_letters"]["count"],
        "vrp_acceptances_overdue": report["overdue_acceptances"]["count"],
        "vrp_held_awaiting_triage": report["held"]["count"],
        "vrp_alerts_failed_open": report["failed_alerts"]["count"],
        "vrp_webhooks_disabled": len(report["disabled_webhooks"]),
    }
    assert all(n >= 1 for n in figures.values()), figures
    for name, n in figures.items():
        assert value(gauges, name) == n, (name, n, value(gauges, name))
    oldest = report["held"]["oldest_age_seconds"]
    assert abs(value(gauges, "vrp_held_oldest_seconds") - oldest) < 10
    assert value(idle, "vrp_dead_letters") == 0 and value(idle, "vrp_webhooks_disabled") == 0
    assert triaged["held"]["count"] == 0
    assert value(after_triage, "vrp_held_awaiting_triage") == 0
    assert value(after_triage, "vrp_held_oldest_seconds") == 0
    assert samples(gauges, "vrp_configuration_info") == [{"version": version}]
    assert report["configuration"]["version"] == version
    assert value(gauges, "vrp_configuration_info", version=version) == 1


async def test_a_refused_configuration_change_counts_as_a_failed_reload(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config)
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail", config_dir=config)
    agreements = config / "agreements.yaml"
    good = agreements.read_text()
    async with serving(settings) as served:
        live = served.runtime.config
        version = live().version
        before = await scrape(served.client)
        agreements.write_text(good + "\n  - not: [an agreement\n")
        live.reload_if_changed()  # the watch may notice first; either way it counts once

        async def counted(result: str, n: int) -> bool:
            reloads = await scrape(served.client)
            return value(reloads, "vrp_configuration_reloads_total", result=result) == n

        await until(lambda: counted("failed", 1))
        assert live().version == version  # refused: the old version stays in force
        agreements.write_text(good + "\n# reviewed\n")
        live.reload_if_changed()
        await until(lambda: counted("ok", 1))
        after = await scrape(served.client)
    for result in ("ok", "failed"):
        assert value(before, "vrp_configuration_reloads_total", result=result) == 0
        assert value(after, "vrp_configuration_reloads_total", result=result) == 1
    assert samples(after, "vrp_configuration_info") == [{"version": version}]
