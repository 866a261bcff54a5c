"""Prometheus /metrics: the named series move by exactly what a batch of referrals did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.demo import demo_key
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, post_referral, submit
from testkit.ports import free_port
from testkit.production import production
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from vrp.config_files import load_configuration
from vrp.metrics import expiring_flows
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database, after_commit, savepoint
from vrp.store.tables import delivery_attempts, notifications, timers

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

ROUTED, HELD = 3, 2
AWAY = "LS1 1AA"  # outside every demo intervention's area: held for the hub
PERSONAL = ("Alex", "Fictional", "9434765919", "B10 0AA", AWAY, "Sam Example", "uhb.example")


async def scrape(client: httpx.AsyncClient, url: str = "/metrics") -> Series:
    """Every sample of one scrape, by name and label set."""
    r = await client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """The sum of name's samples whose labels include labels (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and wanted <= ls)


def moved(before: Series, after: Series, name: str, **labels: str) -> float:
    """How far a counter moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll check until it holds; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_batch_of_referrals_moves_each_series_by_what_happened(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    offset = timedelta()

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    settings = runtime_settings(url, mail_dir=tmp_path / "mail")
    db = Database(url)
    uhb = bearer(demo_key("uhb"))

    async def count(query: object) -> int:
        async with db.engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)  # type: ignore[call-overload]

    async def settled() -> bool:
        # Every alert staged so far has been sent, and every reminder has fired.
        pending = await count(
            select(func.count()).select_from(notifications).where(notifications.c.status != "sent")
        )
        staged = await count(select(func.count()).select_from(notifications))
        return pending == 0 and staged >= ROUTED + HELD

    try:
        async with serving(settings, clock=clock) as served:
            before = await scrape(served.client)
            attempts_before = await count(select(func.count()).select_from(delivery_attempts))
            key = "metrics-replayed-1"
            accepted = [await submit(served.client, uhb, key)]
            # A replay of the same request is the same referral: it must not count again.
            assert (await post_referral(served.client, uhb, key)).status_code == 202
            accepted += [await submit(served.client, uhb) for _ in range(ROUTED - 1)]
            away = example(subject__postcode=AWAY)
            accepted += [await submit(served.client, uhb, body=away) for _ in range(HELD)]
            await until(settled)

            # Past the acceptance SLA (but before any escalation): each routed referral's
            # reminder fires once, one breach for its intervention.
            config = served.runtime.config()
            sla = {i.id: i.acceptance_sla for i in config.interventions}
            offset = max(sla.values()) + timedelta(minutes=30)
            assert served.runtime.timers is not None
            served.runtime.timers.wake()

            async def reminded() -> bool:
                fired = await count(
                    select(func.count())
                    .select_from(timers)
                    .where(timers.c.kind == "reminder", timers.c.status == "fired")
                )
                return fired == ROUTED and await settled()

            await until(reminded)
            async with db.engine.connect() as conn:
                breached = list(
                    (
                        await conn.execute(
                            select(timers.c.intervention).where(
                                timers.c.kind == "reminder", timers.c.status == "fired"
                            )
                        )
                    ).scalars()
                )
            # The same moment in both: a reminder's attempt may still be committing, so read
            # the recorded attempts on both sides of the scrape until they agree.
            while True:
                attempts = await count(select(func.count()).select_from(delivery_attempts))
                after = await scrape(served.client)
                if attempts == await count(select(func.count()).select_from(delivery_attempts)):
                    break
    finally:
        await db.dispose()

    received = "vrp_referrals_received_total"
    assert moved(before, after, received, source_org="uhb") == ROUTED + HELD
    decided = "vrp_referrals_decided_total"
    assert moved(before, after, decided, outcome="routed") == ROUTED
    assert moved(before, after, decided, outcome="held") == HELD
    assert moved(before, after, "vrp_referrals_held_total", reason="ineligible-area") == HELD
    assert moved(before, after, "vrp_referrals_held_total") == HELD  # no other code
    assert moved(before, after, "vrp_decision_seconds_count") == ROUTED + HELD
    assert moved(before, after, "vrp_decision_seconds_sum") > 0
    # Every attempt the notifier recorded, and here all of them were sent by email.
    sent = moved(before, after, "vrp_alert_attempts_total", channel="email", outcome="sent")
    assert moved(before, after, "vrp_alert_attempts_total") == attempts - attempts_before
    assert sent == attempts - attempts_before >= ROUTED + HELD + ROUTED
    assert moved(before, after, "vrp_alerts_failed_total") == 0
    for intervention in set(breached):
        breaches = moved(before, after, "vrp_sla_breaches_total", intervention=intervention)
        assert breaches == breached.count(intervention)
    assert moved(before, after, "vrp_sla_breaches_total") == ROUTED

    # Gauges: embedded consumers have caught up; the flows ending soon match the files.
    for (name, ls), v in after.items():
        if name == "vrp_consumer_lag":
            assert v >= 0 and dict(ls)["group"], ls
    assert any(n == "vrp_consumer_lag" for n, _ in after)
    flows = expiring_flows(load_configuration(DEMO_CONFIG_DIR), datetime.now(UTC).date())
    assert value(after, "vrp_agreement_flows_expiring", within="30d") == flows

    # No label says anything about a referral or a person.
    labels = {v for (_, ls) in after for (_, v) in ls}
    ids = {a["id"] for a in accepted} | {a["reference"] for a in accepted}
    for label in labels:
        assert not any(i in label for i in ids), label
        assert not any(p.lower() in label.lower() for p in PERSONAL), label


async def test_metrics_is_not_traced_nor_in_the_partner_api(tmp_path: Path) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    async with serving(settings) as served:
        assert (await served.client.get("/metrics")).status_code == 200
        spec = (await served.client.get("/openapi.json")).json()
    assert "/metrics" not in spec["paths"]


@pytest.mark.kafka
@pytest.mark.postgres
async def test_router_and_notifier_serve_their_own_metrics(
    postgres_url: str, kafka: KafkaEnv, smtp: SmtpServer, tmp_path: Path
) -> None:
    ports = {"router": free_port(), "notifier": free_port()}
    role_env = {role: {"VRP_METRICS_PORT": str(port)} for role, port in ports.items()}
    async with production(postgres_url, kafka, smtp, tmp_path, role_env=role_env) as run:
        router_url = f"http://127.0.0.1:{ports['router']}/metrics"
        notifier_url = f"http://127.0.0.1:{ports['notifier']}/metrics"
        async with httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=30) as client:

            async def serving(url: str) -> bool:
                try:
                    return (await client.get(url)).status_code == 200
                except httpx.TransportError:
                    return False  # the process is up (intake is ready) but still starting

            for url in (router_url, notifier_url):
                await until(lambda url=url: serving(url), 60)  # type: ignore[misc]
            intake_before = await scrape(client)
            router_before = await scrape(client, router_url)
            notifier_before = await scrape(client, notifier_url)
            accepted = await submit(client, run.auth)
            assert await smtp.mailbox.until(
                lambda _: bool(smtp.mailbox.for_reference(accepted["reference"])), 60
            ), run.cluster.tail("notifier")

            async def alerted() -> bool:
                now = await scrape(client, notifier_url)
                # The team's new-referral alert, timed from receipt once it was sent.
                return moved(notifier_before, now, "vrp_referral_alert_seconds_count") >= 1

            await until(alerted, 30)
            intake_after = await scrape(client)
            router_after = await scrape(client, router_url)
            notifier_after = await scrape(client, notifier_url)
            missing = await client.get(router_url.replace("/metrics", "/other"))
    assert missing.status_code == 404
    assert moved(intake_before, intake_after, "vrp_referrals_received_total") == 1
    assert moved(router_before, router_after, "vrp_referrals_decided_total", outcome="routed") == 1
    assert moved(router_before, router_after, "vrp_decision_seconds_count") == 1
    sent = moved(notifier_before, notifier_after, "vrp_alert_attempts_total", outcome="sent")
    assert sent >= 1
    timed = "vrp_referral_alert_seconds_count"
    assert moved(notifier_before, notifier_after, timed, channel="email") == 1
    assert 0 < moved(notifier_before, notifier_after, "vrp_referral_alert_seconds_sum") < 60
    posted = {"route": "/v1/referrals", "method": "POST", "status_class": "2xx"}
    assert moved(intake_before, intake_after, "vrp_http_requests_total", **posted) == 1
    # The on-call figures come from intake alone; each process names its configuration.
    for series, reads_status in (
        (intake_after, True),
        (router_after, False),
        (notifier_after, False),
    ):
        assert any(n == "vrp_dead_letters" for n, _ in series) is reads_status
        assert value(series, "vrp_configuration_info") == 1
    # Each Kafka consumer reports its group's lag once it has fetched: all caught up here.
    for series, group in (
        (router_after, "vrp-router"),
        (notifier_after, "vrp-notifier"),
        (intake_after, "vrp-intake"),
    ):
        lags = [
            v for (n, ls), v in series.items() if n == "vrp_consumer_lag" and ("group", group) in ls
        ]
        assert lags == [0], (group, lags)
    # Each process's own relay: its backlog is a gauge per producer, drained by now or soon.
    for series, producer in ((router_after, "router"), (notifier_after, "notifier")):
        assert ("vrp_outbox_backlog", frozenset({("producer", producer)})) in series
        assert value(series, "vrp_outbox_oldest_unpublished_seconds", producer=producer) >= 0


async def test_counts_made_in_a_rolled_back_savepoint_are_dropped(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))
    ran: list[str] = []
    try:
        async with db.transaction() as conn:
            after_commit(conn, lambda: ran.append("kept"))
            with pytest.raises(ValueError):
                async with savepoint(conn):
                    after_commit(conn, lambda: ran.append("undone"))
                    raise ValueError("poison")
            async with savepoint(conn):
                after_commit(conn, lambda: ran.append("nested"))
    finally:
        await db.dispose()
    assert ran == ["kept", "nested"]
