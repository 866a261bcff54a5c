"""The consume loop shared by every service: inbox, handler, dead letters, commit after commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiokafka.errors import KafkaError
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.errors import error_location
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import DeadLetter
from vrp.store import dead_letters, outbox
from vrp.store.database import DATABASE_ERRORS, Database, savepoint
from vrp.store.processed import first_deliveries, first_delivery
from vrp.telemetry import context_from, tracer
from vrp.transport.base import Message, Subscription
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)

Handler = Callable[[AsyncConnection, Envelope], Awaitable[None]]

current_topic: ContextVar[str] = ContextVar("current_topic", default="")
"""The topic (without namespace) of the event a handler is processing, for handlers of
topic patterns that need to know which topic matched."""


@dataclass(frozen=True)
class Delivery:
    """A parsed event with where it came from and the trace it continues."""

    envelope: Envelope
    message: Message
    parent: Context
    tracer: Tracer
    consumer: str
    system: str = "kafka"

    @contextmanager
    def span(self) -> Iterator[None]:
        """Make this event's consumer span current (outbox rows written inside inherit it)."""
        with self.tracer.start_as_current_span(
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
        ):
            yield


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can process a whole batch with a few statements (and one at a time)."""

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event."""

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Handle these events, in order; raise if any of them cannot be processed."""


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
    """Runs one handler over one subscription until stopped."""

    def __init__(
        self,
        name: str,
        producer: str,
        db: Database,
        subscription: Subscription,
        handler: Handler,
        batch_size: int = 200,
    ) -> None:
        self.name = name
        self._producer = producer
        self._db = db
        self._sub = subscription
        self._handler = handler
        self._batch = batch_size
        self._tracer = tracer(name)
        self._broker = Outage(f"{name}: broker", log)
        self._broker_backoff = Backoff()
        self._database = Outage(f"{name}: database", log)

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
        one_by_one = not isinstance(self._handler, BatchHandler)
        while True:
            try:
                async with self._db.transaction() as conn:
                    deliveries = [d for m in batch if (d := await self._parse(conn, m))]
                    if one_by_one:
                        for d in deliveries:
                            if await first_delivery(self._db, conn, self.name, d.envelope.id):
                                await self._handle_one(conn, d)
                    else:
                        assert isinstance(self._handler, BatchHandler)
                        await self._as_batch(conn, self._handler, deliveries)
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

    async def _parse(self, conn: AsyncConnection, message: Message) -> Delivery | None:
        try:
            envelope = Envelope.from_bytes(message.value)
        except ValidationError as exc:
            await self._dead_letter(conn, message, None, safe_reason(exc))
            return None
        parent = context_from(message.headers.get("traceparent") or envelope.traceparent)
        return Delivery(envelope, message, parent, self._tracer, self.name, self._sub.system)

    async def _as_batch(
        self, conn: AsyncConnection, handler: BatchHandler, deliveries: list[Delivery]
    ) -> None:
        fresh_ids = await first_deliveries(
            self._db, conn, self.name, [d.envelope.id for d in deliveries]
        )
        fresh, seen = [], set()
        for d in deliveries:
            if d.envelope.id in fresh_ids and d.envelope.id not in seen:
                seen.add(d.envelope.id)
                fresh.append(d)
        try:
            await handler.handle_batch(conn, fresh)
        except DATABASE_ERRORS:
            raise
        except Exception as exc:  # some event in the batch cannot be processed: which one?
            raise _BatchFailed from exc

    async def _handle_one(self, conn: AsyncConnection, d: Delivery) -> None:
        with d.span():
            token = current_topic.set(d.message.topic)
            try:
                async with savepoint(conn):
                    await self._handler(conn, d.envelope)
            except DATABASE_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - a deterministic failure of this event
                # The savepoint undid the handler's writes; park the event with its reason
                # on the dead-letter topic and move on rather than block the partition.
                await self._dead_letter(conn, d.message, d.envelope.id, safe_reason(exc))
            finally:
                current_topic.reset(token)

    async def _dead_letter(
        self, conn: AsyncConnection, message: Message, event_id: str | None, reason: str
    ) -> None:
        # The original may hold personal data: it stays in the restricted table, written in
        # this same transaction, and the topic only gets a reference to it.
        ref = await dead_letters.keep_original(
            conn,
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
        await outbox.add(conn, self._producer, topics.DEAD_LETTER, message.key or "", envelope)
