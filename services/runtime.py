"""Composition root: wires settings, store, transport and services into running tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvicorn

from services.demo import (
    check_demo_clock,
    retire_demo_accounts,
    retire_demo_keys,
    seed_demo_accounts,
    seed_demo_partners,
)
from services.intake.api.app import create_app
from services.intake.api.edge import EdgeLimits, edge_protocol
from services.intake.api.state import IntakeState
from services.intake.console.evidence_periods import opening, pilots
from services.intake.consumers.dead_letters import DeadLetterHandler
from services.intake.consumers.inbox import PartnerInboxHandler
from services.intake.consumers.timeline import TimelineHandler
from services.metrics import (
    readiness,
    watch_configuration,
    watch_consumers,
    watch_operations,
    watch_store,
)
from services.metrics import serve as serve_metrics
from services.notifier.decisions import DecisionHandler
from services.notifier.mail import Mailer
from services.notifier.sender import AlertSender
from services.notifier.timers import Clock, TimerService, system_clock
from services.notifier.transports import channels, mailer
from services.notifier.updates import StatusUpdateHandler
from services.router.handler import RouterHandler
from vrp.configuration_watch import LiveConfiguration
from vrp.demo_configuration import is_demo_configuration
from vrp.events import topics, wiring
from vrp.events.wiring import Consumer, Role
from vrp.metrics import Metrics
from vrp.settings import Settings, TransportKind
from vrp.store.audit import record_configuration
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.reduction import ReferralRetention, Retained
from vrp.store.retention import utc_now
from vrp.store.sealer import Sealer
from vrp.transport.base import Subscription
from vrp.transport.connection import aiokafka_options
from vrp.transport.embedded import EmbeddedSubscription, LogRetention
from vrp.transport.kafka import KafkaPublisher, KafkaSubscription
from vrp.transport.relay import Relay
from vrp.transport.worker import Handlers, Worker

log = logging.getLogger(__name__)

ROLES = wiring.ROLE_NAMES


@dataclass
class Runtime:
    """The running pieces of one process."""

    settings: Settings
    roles: tuple[str, ...]
    db: Database
    config: LiveConfiguration
    mail: Mailer
    clock: Clock = system_clock
    retention_clock: Clock = utc_now
    """Referral retention's own clock: tests move `clock` days ahead for timers alone."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    server: uvicorn.Server | None = None
    timers: TimerService | None = None
    metrics: Metrics | None = None
    retention: ReferralRetention | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _members: dict[str, KafkaSubscription] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    """This process's consumers (their progress is its readiness)."""

    @property
    def embedded(self) -> bool:
        """True when events move through the outbox table instead of Kafka."""
        return self.settings.transport is TransportKind.EMBEDDED

    def _subscription(self, consumer: Consumer) -> Subscription:
        if self.embedded:
            return EmbeddedSubscription(
                self.db,
                consumer.group,
                consumer.topics,
                self.settings.poll_interval,
                consumer.patterns,
            )
        member = self._members[consumer.group] = KafkaSubscription(
            aiokafka_options(self.settings),
            consumer.group,
            consumer.topics,
            f"{self.settings.kafka_client_id}-{consumer.group}",
            self.settings.kafka_namespace,
            consumer.patterns,
        )
        return member

    def _workers(self, role: Role, tables: dict[str, Handlers]) -> None:
        """One worker per consumer the wiring declares for role, with its handler table."""
        for consumer in role.consumers:
            table = tables[consumer.group]
            if set(table) != set(consumer.accepts):
                # A type accepted but unhandled would be dead-lettered, a type handled but
                # not declared would be missing from the contract: refuse to start either.
                raise RuntimeError(
                    f"{consumer.group} handles {sorted(table)} but the wiring says it accepts "
                    f"{sorted(consumer.accepts)}"
                )
            worker = Worker(
                consumer.group,
                role.name,
                self.db,
                self._subscription(consumer),
                table,
                self.settings.consumer_batch,
            )
            self.workers.append(worker)
            self._spawn(worker.run(self.stopping), consumer.group)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_exit)
        self._tasks.append(task)

    def _on_exit(self, task: asyncio.Task[None]) -> None:
        # A component that dies takes the process down so a supervisor restarts it,
        # rather than leaving a half-working service that looks healthy.
        if not task.cancelled() and task.exception() is not None and not self.stopping.is_set():
            log.error("%s stopped unexpectedly: %r", task.get_name(), task.exception())
            self.stopping.set()

    async def start(self) -> None:
        """Start every component of this process's roles."""
        await self._start_shared()
        relays = {} if self.embedded else {role: self._relay(role) for role in self.roles}
        self.metrics = self._metrics()
        starters = {
            "intake": lambda: self._start_intake(relays.get("intake")),
            "router": self._start_router,
            "notifier": self._start_notifier,
        }
        for role in self.roles:
            starters[role]()
        for role, each in relays.items():
            self._spawn(each.run(self.stopping), f"relay-{role}")
        if self.embedded:  # the log is the outbox itself: no relay prunes it
            pruner = LogRetention(self.db, self._retention)
            self._spawn(pruner.run(self.stopping), "outbox-retention")

    async def _start_shared(self) -> None:
        """What every process runs: the configuration watch (each version it puts in force
        is an audit record) and the audit sealer."""
        actor = f"service:vrp-{'+'.join(self.roles)}"
        self.config.on_new_version.append(lambda c: record_configuration(self.db, actor, c))
        await record_configuration(self.db, actor, self.config())
        self._spawn(self.config.watch(self.stopping), "config-watch")
        # Chains the audit records this process commits at once, and others' (e.g. a vrp
        # command's) within seconds; processes take turns on the chain's lock.
        sealer = Sealer(self.db, max(self.settings.poll_interval, 2.0))
        self._spawn(sealer.run(self.stopping), "audit-sealer")

    def _start_intake(self, relay: Relay | None) -> None:
        """The partner API and console, the timeline and inbox consumers, retention."""
        assert self.metrics is not None
        state = IntakeState.of(
            self.settings,
            self.db,
            self.config,
            self.metrics,
            (lambda: relay.broker.healthy) if relay else None,
            lambda: self.config.failure,
        )
        app = create_app(self.settings, state)
        self._spawn(
            state.evidence.keep_prepared(self.stopping, self.config, opening, pilots),
            "evidence-figures",
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.settings.host,
                port=self.settings.port,
                log_level="warning",
                log_config=None,  # uvicorn's records go to our handler (JSON lines too)
                access_log=False,
                lifespan="on",
                # Header, timeout and connection limits before a request reaches the app.
                http=edge_protocol(EdgeLimits.of(self.settings)),
                server_header=False,
            )
        )
        self._spawn(self._serve(self.server), "http")
        self._workers(
            wiring.INTAKE,
            {
                topics.INTAKE_GROUP: TimelineHandler().handlers(),
                topics.INTAKE_INBOX_GROUP: PartnerInboxHandler().handlers(),
                topics.INTAKE_DEAD_LETTERS_GROUP: DeadLetterHandler().handlers(),
            },
        )
        self.retention = ReferralRetention(
            self.db,
            lambda: Retained.of(
                self.config(),
                self.settings.referral_retention_days,
                self.settings.dead_letter_retention_days,
            ),
            self.settings.retention_interval_hours * 3600,
            embedded=self.embedded,
            clock=self.retention_clock,
        )
        self._spawn(self.retention.run(self.stopping), "referral-retention")

    def _start_router(self) -> None:
        """The routing consumer."""
        key = self.settings.pseudonym_key.get_secret_value().encode()
        handler = RouterHandler(self.config, key, self.metrics, self.settings.demo_speed)
        self._workers(wiring.ROUTER, {topics.ROUTER_GROUP: handler.handlers()})

    def _start_notifier(self) -> None:
        """The alert sender, the SLA timers, and the decision and status consumers."""
        sender = AlertSender(
            self.db,
            channels(self.settings, self.mail, self.config),
            self.config,
            self.settings.public_url,
            self.settings.poll_interval,
            first_retry=self.settings.alert_first_retry,
            metrics=self.metrics,
        )
        self.timers = TimerService(
            self.db, self.config, sender.wake, self.settings.poll_interval, self.clock, self.metrics
        )
        self._spawn(sender.run(self.stopping), "alert-sender")
        self._spawn(self.timers.run(self.stopping), "timers")
        self._workers(
            wiring.NOTIFIER,
            {
                topics.NOTIFIER_GROUP: DecisionHandler(
                    self.config, sender.wake, self.settings.demo_speed
                ).handlers(),
                topics.NOTIFIER_UPDATES_GROUP: StatusUpdateHandler(
                    self.config, sender.wake
                ).handlers(),
            },
        )

    def _metrics(self) -> Metrics:
        """This process's instruments and gauges; its own /metrics port when configured."""
        metrics = Metrics("vrp" if len(self.roles) > 1 else f"vrp-{self.roles[0]}")
        own = [wiring.role(r) for r in self.roles]
        consumers = [c for r in own for c in r.consumers] if self.embedded else []
        watch_store(metrics, self.db, [] if self.embedded else list(self.roles), consumers)
        watch_configuration(metrics, self.config)
        if "intake" in self.roles:  # one process reads the on-call figures, not three
            watch_operations(metrics, self.db)
        self.config.on_reload.append(metrics.reloaded)
        watch_consumers(metrics, self._members)  # filled as the Kafka workers are made
        if self.settings.metrics_port:
            serve = serve_metrics(
                metrics,
                self.settings.metrics_host,
                self.settings.metrics_port,
                self.stopping,
                readiness(self.db, self.workers),  # filled as the workers are made
                self._reload_failure,
            )
            self._spawn(serve, "metrics")
        return metrics

    def _reload_failure(self) -> dict[str, Any]:
        """The metrics endpoint's /ready note while the configuration fails to load."""
        failure = self.config.failure
        return {} if failure is None else {"configuration": failure.as_json()}

    def _relay(self, role: str) -> Relay:
        publisher = KafkaPublisher(
            aiokafka_options(self.settings),
            f"{self.settings.kafka_client_id}-{role}-relay",
            self.settings.kafka_namespace,
        )
        return Relay(
            self.db,
            publisher,
            role,
            self.settings.poll_interval,
            keep=self._retention,
        )

    @property
    def _retention(self) -> timedelta:
        return timedelta(hours=self.settings.outbox_retention_hours)

    async def _serve(self, server: uvicorn.Server) -> None:
        task = asyncio.create_task(server.serve())
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await task
        if not self.stopping.is_set():
            raise RuntimeError("HTTP server exited")

    async def wait_started(self, timeout: float = 30.0) -> None:
        """Return once the HTTP server (if any) accepts connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.server is not None and not self.server.started:
            if self.stopping.is_set() or loop.time() > deadline:
                raise RuntimeError("the HTTP server did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop every component and release resources."""
        self.stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=15)
        if self.metrics is not None:
            self.metrics.shutdown()
        await self.db.dispose()


async def build(
    settings: Settings,
    roles: tuple[str, ...],
    mail: Mailer | None = None,
    clock: Clock = system_clock,
) -> Runtime:
    """Create the runtime; embedded mode migrates the schema itself. Raises DemoClockRefused
    (before touching the database) for a demo clock outside a demo."""
    config = LiveConfiguration(settings.config_dir)  # loaded once, here
    demo = is_demo_configuration(config())
    check_demo_clock(settings.demo_speed, settings.environment, demo)
    db = Database(settings.database_url, settings.database_pool_size, settings.database_pre_ping)
    if settings.transport is TransportKind.EMBEDDED:
        await upgrade(db)
    # Published demo credentials exist only with the packaged demo partnership: with any
    # other configuration they are never seeded, and ones left from a demo run are revoked.
    if not demo:
        await retire_demo_keys(db)
        await retire_demo_accounts(db)
        if settings.demo_partners:
            log.warning("demo keys not seeded: VRP_CONFIG_DIR is not the demo configuration")
    elif settings.demo_partners:
        await seed_demo_partners(db)
        await seed_demo_accounts(db)
    return Runtime(
        settings,
        roles,
        db,
        config,
        mail or mailer(settings),
        clock,
    )
