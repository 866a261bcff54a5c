"""A running system as the flow suite (tests/flows/test_flows.py) sees it, on either transport.

`EmbeddedSystem` is the default deployment: one in-process runtime on a SQLite file, events
moving through the outbox table, real HTTP on loopback. `KafkaSystem` is the production
mode: intake, router and notifier as three OS processes on real Kafka and PostgreSQL
(testkit/production.py). Both send alerts to a real SMTP server on loopback and offer
the same small interface, so one test body checks one behaviour on both.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.demo import demo_key
from services.intake.auth.keys import issue
from services.runtime import Runtime
from testkit.infrastructure import reachable_kafka, reachable_postgres
from testkit.kafka import KafkaEnv
from testkit.otlp import OtlpReceiver
from testkit.partner import bearer
from testkit.ports import free_port
from testkit.production import Production, production
from testkit.runtime import runtime_settings, sqlite_url, started
from testkit.smtp import SmtpServer
from testkit.system import TIMEOUT, Record, SeenSpan, System, Until
from vrp import telemetry
from vrp.events import topics
from vrp.events.asyncapi import CONTENT_TYPE
from vrp.settings import Settings
from vrp.store import outbox as outbox_store
from vrp.store.database import Database
from vrp.store.tables import outbox
from vrp.store.unit import unit_of_work

__all__ = ["TIMEOUT", "EmbeddedSystem", "KafkaSystem", "Record", "SeenSpan", "System"]


class EmbeddedSystem(System):
    """The default deployment: intake, router and notifier in one process on SQLite, the
    outbox table as the event log.

    The router's crash-restart here is stopping the whole runtime and building a new one on
    the same SQLite file: in this mode the router is not a process of its own, so that is
    the embedded equivalent of a router killed and restarted (what survives is what the
    database holds; the new runtime resumes each consumer from its stored position)."""

    kind = "embedded"

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        smtp: SmtpServer,
        exporter: InMemorySpanExporter,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.client = httpx.AsyncClient(base_url=settings.public_url, timeout=30)
        self.smtp = smtp
        self.exporter = exporter
        self.uhb = bearer(demo_key("uhb"))
        self.navigators = bearer(demo_key("navigators"))
        self.wmp = bearer(demo_key("wmp"))
        self._starts = 1

    async def close(self) -> None:
        """Stop the current runtime; later spans are no longer kept."""
        await self.client.aclose()
        await self.runtime.stop()
        self.exporter.shutdown()

    @property
    def db(self) -> Database:
        return self.runtime.db

    async def read(self, topic: str, until: Until, timeout: float = TIMEOUT) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            async with self.db.engine.connect() as conn:
                rows = await outbox_store.read_log(conn, 0, (topic,), 1_000_000)
            records = [
                Record(
                    key=row.key,
                    value=json.loads(row.value),
                    payload=row.value,
                    headers={
                        "content-type": CONTENT_TYPE,
                        **({"traceparent": row.traceparent} if row.traceparent else {}),
                    },
                    raw=KafkaMessage(
                        headers={"content-type": CONTENT_TYPE.encode()},
                        key=row.key.encode(),
                        value=row.value,
                    ),
                )
                for row in rows
            ]
            if until(records) or time.monotonic() > deadline:
                return records
            await asyncio.sleep(0.05)

    async def inject(self, records: list[tuple[str, bytes]]) -> None:
        async with self.db.transaction() as conn:  # one commit: one batch for the router
            for key, value in records:
                await conn.execute(
                    outbox.insert().values(
                        event_id=f"injected-{uuid.uuid4().hex}",
                        producer="intake",
                        topic=topics.RECEIVED,
                        key=key,
                        value=value,
                        created_at=datetime.now(UTC),
                    )
                )
            outbox_store.staged(conn)

    async def restart_router(self) -> None:
        await self.runtime.stop()
        self.runtime = await started(self.settings)
        self._starts += 1

    @asynccontextmanager
    async def router_down(self) -> AsyncIterator[None]:
        """The runtime stopped, and intake alone serving on the same file and port."""
        await self.runtime.stop()
        self.runtime = await started(self.settings, ("intake",))
        try:
            yield
        finally:
            await self.runtime.stop()
            self.runtime = await started(self.settings)
            self._starts += 1

    def router_starts(self) -> int:
        return self._starts

    def spans(self) -> list[SeenSpan]:
        # One process: each component's tracer (instrumentation scope) is its service.
        return [
            SeenSpan(
                s.instrumentation_scope.name if s.instrumentation_scope else "",
                s.name,
                format(s.context.trace_id, "032x"),
                str(rid) if (rid := (s.attributes or {}).get("vrp.referral_id")) else None,
                str(m) if (m := (s.attributes or {}).get("messaging.system")) else None,
            )
            for s in self.exporter.get_finished_spans()
            if s.context is not None
        ]

    def explain(self, role: str) -> str:
        return f"embedded {role}: see the captured log"


class KafkaSystem(System):
    """The production mode: three OS processes, each its own Kafka principal over SASL_SSL,
    on PostgreSQL; spans exported over OTLP to a receiver in the test."""

    kind = "kafka"

    def __init__(self, run: Production, otlp: OtlpReceiver, keys: dict[str, str]) -> None:
        self.run = run
        self.client = httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=30)
        self.otlp = otlp
        self.smtp = run.smtp
        self.uhb = run.auth
        self.navigators = bearer(keys["navigators"])
        self.wmp = bearer(keys["wmp"])

    @property
    def db(self) -> Database:
        return self.run.db

    async def read(self, topic: str, until: Until, timeout: float = TIMEOUT) -> list[Record]:
        consumer = AIOKafkaConsumer(
            self.run.namespace + topic,
            **self.run.kafka.aiokafka(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        seen: list[Record] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until(seen):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        seen.append(
                            Record(
                                key=rec.key.decode() if rec.key is not None else None,
                                value=json.loads(rec.value),
                                payload=rec.value,
                                headers={k: v.decode() for k, v in rec.headers},
                                raw=KafkaMessage(
                                    headers=dict(rec.headers), key=rec.key, value=rec.value
                                ),
                            )
                        )
        finally:
            await consumer.stop()
        return seen

    async def inject(self, records: list[tuple[str, bytes]]) -> None:
        producer = AIOKafkaProducer(**self.run.kafka.aiokafka())  # as the broker's admin
        await producer.start()
        try:
            for key, value in records:
                await producer.send(
                    self.run.namespace + topics.RECEIVED, value=value, key=key.encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

    async def _router_running(self, starts: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.router_starts() < starts:
            assert time.monotonic() < deadline, (
                f"the router did not start: {self.explain('router')}"
            )
            await asyncio.sleep(0.2)

    async def restart_router(self) -> None:
        starts = self.router_starts()
        self.run.cluster.kill("router", signal.SIGKILL)
        self.run.cluster.start("router")
        await self._router_running(starts + 1)

    @asynccontextmanager
    async def router_down(self) -> AsyncIterator[None]:
        """The router process SIGKILLed; intake and notifier keep running."""
        starts = self.router_starts()
        self.run.cluster.kill("router", signal.SIGKILL)
        try:
            yield
        finally:
            self.run.cluster.start("router")
            await self._router_running(starts + 1)

    def router_starts(self) -> int:
        return self.run.cluster.log("router").count("vrp router running")

    def spans(self) -> list[SeenSpan]:
        return [
            SeenSpan(
                s.service,
                s.name,
                s.trace_id,
                s.attributes.get("vrp.referral_id"),
                s.attributes.get("messaging.system"),
            )
            for s in list(self.otlp.spans)
        ]

    def explain(self, role: str) -> str:
        return self.run.cluster.tail(role)


@asynccontextmanager
async def embedded_system(folder: Path) -> AsyncIterator[EmbeddedSystem]:
    """The embedded deployment on a SQLite file in `folder`, alerting a loopback SMTP
    server, its spans kept in memory."""
    exporter = InMemorySpanExporter()
    telemetry.configure("vrp-tests", SimpleSpanProcessor(exporter))
    with SmtpServer(free_port()) as smtp:
        settings = runtime_settings(sqlite_url(folder), smtp=smtp)
        system = EmbeddedSystem(settings, await started(settings), smtp, exporter)
        try:
            yield system
        finally:
            await system.close()


@asynccontextmanager
async def kafka_system(
    postgres_url: str, kafka: KafkaEnv, logs: Path
) -> AsyncIterator[KafkaSystem]:
    """The three-process deployment on a fresh database and its own topic namespace,
    alerting a loopback SMTP server, exporting spans to a loopback OTLP receiver."""
    with SmtpServer(free_port()) as smtp, OtlpReceiver(free_port()) as otlp:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        async with production(postgres_url, kafka, smtp, logs, env) as run:
            async with unit_of_work(run.db) as unit:
                keys = {org: await issue(unit, org) for org in ("navigators", "wmp")}
            system = KafkaSystem(run, otlp, keys)
            try:
                yield system
            finally:
                await system.client.aclose()


TRANSPORTS = [
    "embedded",
    pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.postgres]),
]
"""The params of a module's `system` fixture: each flow test runs on both transports."""


def module_system() -> Any:
    """A module's `system` fixture (`system = module_system()`): one running system per
    transport, shared by the module's tests, each keeping to its own referrals."""

    @pytest.fixture(scope="module", params=TRANSPORTS)
    async def system(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[System]:
        kind = request.param
        async with either_system(kind, tmp_path_factory.mktemp(kind)) as running:
            yield running

    return system


@asynccontextmanager
async def either_system(kind: str, folder: Path) -> AsyncIterator[System]:
    """The embedded system, or the production mode on the servers deploy/ started (found
    without the postgres_url and kafka fixtures, so the embedded param needs neither)."""
    if kind == "embedded":
        async with embedded_system(folder) as embedded:
            yield embedded
        return
    postgres_url, kafka = await reachable_postgres(), await reachable_kafka()
    logs = os.environ.get("VRP_TEST_LOGS")
    async with kafka_system(postgres_url, kafka, Path(logs) if logs else folder) as production_mode:
        yield production_mode
