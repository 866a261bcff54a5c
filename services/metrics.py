"""A process's metrics wiring: gauge probes over the store and configuration, and a small
/metrics endpoint for the processes that have no HTTP server of their own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from vrp.domain.configuration import RoutingConfiguration
from vrp.events.wiring import Consumer
from vrp.metrics import CONTENT_TYPE, Metrics, Readings, expiring_flows, labels
from vrp.store import backlog, status
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.health import ping
from vrp.store.unit import reading
from vrp.transport.kafka import KafkaSubscription
from vrp.transport.worker import Worker

log = logging.getLogger(__name__)

_HEAD_LIMIT = 16 * 1024


def watch_store(
    metrics: Metrics, db: Database, producers: list[str], consumers: list[Consumer]
) -> None:
    """Outbox backlog per producer (Kafka relays) and lag per embedded consumer group."""

    async def probe() -> Readings:
        readings: Readings = {}
        try:
            async with db.transaction() as conn:
                if producers:
                    waiting = await backlog.unpublished(conn, producers)
                    readings["vrp.outbox.backlog"] = {
                        labels(producer=p): float(n) for p, (n, _) in waiting.items()
                    }
                    readings["vrp.outbox.oldest_unpublished"] = {
                        labels(producer=p): age for p, (_, age) in waiting.items()
                    }
            if consumers:
                # The rows on each group's own topics after its position, as `vrp status`
                # counts them: the log also holds topics the group never reads.
                async with reading(db) as unit:
                    unread = await status.unread(unit, consumers)
                readings["vrp.consumer.lag"] = {
                    labels(group=b.name): float(b.waiting) for b in unread
                }
        except DATABASE_ERRORS as exc:
            # A scrape during a database outage still gets the counters; the gauges are
            # absent rather than stale, and /ready reports the outage itself.
            log.debug("metrics: database gauges skipped: %r", exc)
        return readings

    metrics.probe(probe)


def watch_operations(metrics: Metrics, db: Database) -> None:
    """What `vrp status` shows on-call, as gauges: dead letters, overdue acceptances, held
    referrals and the oldest one's age, alerts failed for good, disabled webhooks. One
    process reads them (intake), since every process sees the same database."""

    async def probe() -> Readings:
        now = datetime.now(UTC)
        try:
            async with reading(db) as unit:
                dead, _ = await status.dead_letters(unit, latest=0)
                overdue = await status.overdue(unit, now)
                held = await status.held(unit)
                failed = await status.failed_alerts(unit)
                disabled = await status.disabled(unit)
        except DATABASE_ERRORS as exc:
            log.debug("metrics: status gauges skipped: %r", exc)
            return {}
        oldest = 0.0 if held.oldest is None else max((now - held.oldest).total_seconds(), 0.0)
        return {
            "vrp.dead_letters": {(): float(dead)},
            "vrp.acceptances.overdue": {(): float(overdue.count)},
            "vrp.held.awaiting_triage": {(): float(held.count)},
            "vrp.held.oldest": {(): oldest},
            "vrp.alerts.failed_open": {(): float(failed.count)},
            "vrp.webhooks.disabled": {(): float(len(disabled))},
        }

    metrics.probe(probe)


def watch_consumers(metrics: Metrics, members: Mapping[str, KafkaSubscription]) -> None:
    """Lag per Kafka consumer group, as this process's member of it sees its partitions."""

    async def probe() -> Readings:
        lags = {group: await member.lag() for group, member in members.items()}
        known = {labels(group=g): float(n) for g, n in lags.items() if n is not None}
        return {"vrp.consumer.lag": known} if known else {}

    metrics.probe(probe)


def watch_configuration(metrics: Metrics, config: Callable[[], RoutingConfiguration]) -> None:
    """The configuration version in force (one series) and the active agreement flows
    ending within 30 days, from the live configuration."""

    async def probe() -> Readings:
        current = config()
        count = expiring_flows(current, datetime.now(UTC).date())
        return {
            "vrp.agreement_flows.expiring": {labels(within="30d"): float(count)},
            "vrp.configuration.info": {labels(version=current.version): 1.0},
        }

    metrics.probe(probe)


Readiness = Callable[[], Awaitable[dict[str, str]]]
"""What is not ready, by part (empty: ready)."""

_UNREACHABLE: tuple[type[BaseException], ...] = (*DATABASE_ERRORS, TimeoutError)

STALLED_AFTER = 30.0
"""Seconds without a fetch answered or a batch committed before a consumer is stalled."""


def readiness(db: Database, workers: Sequence[Worker]) -> Readiness:
    """Ready when the database answers and every consumer of this process has joined its
    group and made progress within STALLED_AFTER seconds."""

    async def check() -> dict[str, str]:
        problems: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with reading(db) as unit:
                    await ping(unit)
        except _UNREACHABLE as exc:
            problems["database"] = f"unreachable ({type(exc).__name__})"
        now = time.monotonic()
        for w in workers:
            if why := w.stalled(now, STALLED_AFTER):
                problems[w.name] = why
        if not workers:
            problems["consumers"] = "not started"
        return problems

    return check


async def serve(
    metrics: Metrics,
    host: str,
    port: int,
    stopping: asyncio.Event,
    ready: Readiness | None = None,
    degraded: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Answer GET /metrics, /health (the process answers) and /ready (see `readiness`: 200,
    or 503 naming what is not ready; 200 `degraded` with what `degraded` reports, such as a
    configuration reload that failed while the old version serves) over HTTP/1.1 on
    host:port until stopping; 404 for anything else."""

    async def respond(path: bytes) -> tuple[bytes, bytes, str]:
        if path == b"/metrics":
            return b"200 OK", await metrics.render(), CONTENT_TYPE
        if path == b"/health":
            return b"200 OK", b'{"status": "ok"}\n', "application/json"
        if path == b"/ready" and ready is not None:
            problems = await ready()
            notes = degraded() if degraded is not None else {}
            body: dict[str, Any] = (
                {"status": "not ready", "problems": problems}
                if problems
                else {"status": "degraded" if notes else "ready"}
            ) | notes
            status = b"503 Service Unavailable" if problems else b"200 OK"
            return status, json.dumps(body).encode() + b"\n", "application/json"
        return b"404 Not Found", b"not found\n", "text/plain"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request = head[:_HEAD_LIMIT].split(b"\r\n", 1)[0].split(b" ")
            if len(request) >= 2 and request[0] == b"GET":
                status, body, kind = await respond(request[1].split(b"?")[0])
            else:
                status, body, kind = b"404 Not Found", b"not found\n", "text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + kind.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # a client that went away or sent nonsense gets nothing
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(answer, host, port, limit=_HEAD_LIMIT)
    log.info("metrics on http://%s:%d/metrics (and /health, /ready)", host, port)
    async with server:
        await stopping.wait()
