"""The consume loop shared by every service: inbox, dispatch by type, dead letters, commit
after commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import groupby

from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from pydantic import ValidationError

from vrp.domain.errors import error_location
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import DeadLetter
from vrp.store import dead_letters
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.store.processed import first_deliveries
from vrp.store.unit import Unit
from vrp.telemetry import context_from, tracer
from vrp.transport.base import Message, Subscription
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """A parsed event with where it came from, the trace it continues and, while a handler
    runs, its consumer span."""

    envelope: Envelope
    message: Message
    parent: Context
    tracer: Tracer
    consumer: str
    system: str = "kafka"
    span: Span | None = None

    def start_span(self) -> Span:
        """This event's consumer span, started now as a child of the producer's context."""
        return self.tracer.start_span(
            f"{self.consumer} process {self.message.topic}",
            context=self.parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": self.system,
                "messaging.destination.name": self.message.topic,
                "messaging.message.id": self.envelope.id,
                "vrp.referral_id": self.envelope.subject or "",
                "vrp.event_type": self.envelope.type,
            },
        )

    @contextmanager
    def current(self) -> Iterator[None]:
        """Make this event's consumer span current (outbox and alert rows staged inside carry
        its trace context)."""
        if self.span is None:
            yield
            return
        with trace.use_span(self.span, end_on_exit=False):
            yield


EventHandler = Callable[[Unit, list[Delivery]], Awaitable[None]]
"""Handles a run of consecutive deliveries of the types it is bound to, in order (one
delivery when the worker goes one by one); raises PoisonEvent for an event it can never
process."""

Handlers = Mapping[str, EventHandler]
"""A consumer's table: event or command type -> its handler (the wiring lists the types)."""


class PoisonEvent(Exception):
    """The event can never be processed; the message must not contain personal data."""


def safe_reason(exc: Exception) -> str:
    """Why processing failed, without quoting any input values."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{error_location(e)}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5]
        ]
        return "invalid event: " + "; ".join(parts)
    if isinstance(exc, PoisonEvent):
        return str(exc)
    return f"handler failed with {type(exc).__name__}"


class _BatchFailed(Exception):
    """A batch handler raised for some event of the batch (which one is not known)."""


class Worker:
    """Runs one consumer's handler table over one subscription until stopped."""

    def __init__(
        self,
        name: str,
        producer: str,
        db: Database,
        subscription: Subscription,
        handlers: Handlers,
        batch_size: int = 200,
    ) -> None:
        self.name = name
        self._producer = producer
        self._db = db
        self._sub = subscription
        self._handlers = handlers
        self._batch = batch_size
        self._tracer = tracer(name)
        self._broker = Outage(f"{name}: broker", log)
        self._broker_backoff = Backoff()
        self._database = Outage(f"{name}: database", log)
        self.joined = False
        """True once the subscription started (joined its group)."""
        self.progressed_at: float | None = None
        """Monotonic time of the last fetch that answered and the last batch committed."""

    def stalled(self, now: float, after: float) -> str | None:
        """Why this worker is not ready (None when it is): not joined yet, or no fetch
        answered and no batch committed for `after` seconds (broker or database gone)."""
        if not self.joined or self.progressed_at is None:
            return "not joined"
        if now - self.progressed_at > after:
            return f"no progress for {now - self.progressed_at:.0f} s"
        return None

    async def run(self, stopping: asyncio.Event) -> None:
        """Fetch, process in one transaction, then acknowledge; retry transient failures."""
        await self._start(stopping)
        try:
            while not stopping.is_set():
                try:
                    batch = await self._sub.fetch(self._batch, timeout=0.5)
                except KafkaError as exc:
                    self._broker.failed(exc)
                    await self._broker_backoff.sleep(stopping)
                    continue
                except DATABASE_ERRORS as exc:  # the embedded log
                    self._database.failed(exc)
                    await self._broker_backoff.sleep(stopping)
                    continue
                if batch:
                    await self._process(batch, stopping)
                await self._commit(batch)  # empty: idle, so acknowledge what is pending
                self.progressed_at = time.monotonic()
        finally:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await self._sub.stop()

    async def _start(self, stopping: asyncio.Event) -> None:
        # A service started while the broker is down waits for it rather than exiting.
        while not stopping.is_set():
            try:
                await self._sub.start()
            except (KafkaError, OSError, TimeoutError) as exc:
                self._broker.failed(exc, "joining again")
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    await self._sub.stop()
                await self._broker_backoff.sleep(stopping)
                continue
            self._broker.succeeded()
            self._broker_backoff.reset()
            self.joined = True
            return

    async def _commit(self, batch: list[Message]) -> None:
        try:
            await self._sub.commit(batch)
        except KafkaError as exc:
            # Our transaction committed; if this acknowledgement is lost, the next batch's
            # commit covers these offsets, or after a restart the events come again and the
            # inbox table skips them.
            self._broker.failed(exc, "committing with the next batch")
            return
        if batch:  # an idle call may have sent nothing: it proves nothing about the broker
            self._broker.succeeded()
            self._broker_backoff.reset()

    async def _process(self, batch: list[Message], stopping: asyncio.Event) -> None:
        backoff = Backoff()
        one_by_one = False
        while True:
            try:
                async with self._db.transaction() as conn:
                    unit = Unit(self._db, conn)
                    deliveries = [d for m in batch if (d := await self._parse(unit, m))]
                    fresh = await self._first_deliveries(unit, deliveries)
                    if one_by_one:
                        for d in fresh:
                            await self._handle_one(unit, d)
                    else:
                        await self._handle_runs(unit, fresh)
                    await unit.flush()
                    await self._sub.stage(conn, batch)
                self._database.succeeded()
                return
            except _BatchFailed:
                # Some event in the batch cannot be processed, and the whole transaction
                # was undone: go again one by one, so only the poison event is
                # dead-lettered. (No savepoint around every batch: two round trips saved
                # on the path every event takes, for a path poison events alone take.)
                one_by_one = True
            except DATABASE_ERRORS as exc:
                # The database is unreachable or busy: nothing was committed, so try the
                # whole batch again; never skip it.
                self._database.failed(exc)
                if stopping.is_set():
                    raise
                await backoff.sleep(stopping)

    async def _parse(self, unit: Unit, message: Message) -> Delivery | None:
        try:
            envelope = Envelope.from_bytes(message.value)
        except ValidationError as exc:
            await self._dead_letter(unit, message, None, safe_reason(exc))
            return None
        parent = context_from(message.headers.get("traceparent") or envelope.traceparent)
        return Delivery(envelope, message, parent, self._tracer, self.name, self._sub.system)

    async def _first_deliveries(self, unit: Unit, deliveries: list[Delivery]) -> list[Delivery]:
        """The deliveries this consumer has not processed before (each id once)."""
        fresh_ids = await first_deliveries(
            self._db, unit.conn, self.name, [d.envelope.id for d in deliveries]
        )
        fresh, seen = [], set()
        for d in deliveries:
            if d.envelope.id in fresh_ids and d.envelope.id not in seen:
                seen.add(d.envelope.id)
                fresh.append(d)
        return fresh

    async def _handle_runs(self, unit: Unit, deliveries: list[Delivery]) -> None:
        """Each run of consecutive events bound to one handler to it, in order (a handler
        bound to several types gets them as one run, so it can write them together)."""
        for handler, run in groupby(deliveries, key=lambda d: self._handlers.get(d.envelope.type)):
            if handler is None:
                raise _BatchFailed  # one by one, the unknown type is dead-lettered alone
            try:
                await self._call(unit, handler, list(run))
                await unit.flush()  # the next run may read what this one wrote
            except DATABASE_ERRORS:
                raise
            except Exception as exc:  # some event of the run cannot be processed: which one?
                raise _BatchFailed from exc

    async def _call(self, unit: Unit, handler: EventHandler, run: list[Delivery]) -> None:
        """Run the handler with each event's consumer span open around its real work."""
        spanned = [replace(d, span=d.start_span()) for d in run]
        failed: BaseException | None = None
        try:
            if len(spanned) == 1:
                with spanned[0].current():
                    await handler(unit, spanned)
            else:
                await handler(unit, spanned)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            for d in spanned:
                assert d.span is not None
                if failed is not None:
                    d.span.set_status(Status(StatusCode.ERROR, type(failed).__name__))
                d.span.end()

    async def _handle_one(self, unit: Unit, d: Delivery) -> None:
        try:
            handler = self._handlers.get(d.envelope.type)
            if handler is None:
                raise PoisonEvent(f"{self.name} does not accept event type {d.envelope.type}")
            async with unit.savepoint():
                await self._call(unit, handler, [d])
        except DATABASE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - a deterministic failure of this event
            # The savepoint undid the handler's writes; park the event with its reason
            # on the dead-letter topic and move on rather than block the partition.
            await self._dead_letter(unit, d.message, d.envelope.id, safe_reason(exc))

    async def _dead_letter(
        self, unit: Unit, message: Message, event_id: str | None, reason: str
    ) -> None:
        # The original may hold personal data: it stays in the restricted table, written in
        # this same transaction, and the topic only gets a reference to it.
        ref = await dead_letters.keep_original(
            unit.conn,
            consumer=self.name,
            topic=message.topic,
            position=message.position,
            event_id=event_id,
            original=message.value,
            reason=reason,
        )
        log.error(
            "%s: dead-lettered %s (original %s): %s", self.name, message.position, ref, reason
        )
        letter = DeadLetter(
            consumer=self.name,
            topic=message.topic,
            position=message.position,
            event_id=event_id,
            reason=reason,
            original_ref=ref,
        )
        envelope = Envelope.wrap(letter, source=f"/vrp/{self.name}", subject=None)
        unit.event(self._producer, topics.DEAD_LETTER, message.key or "", envelope)
