"""Deliver pending alerts: claim, send, then record delivery and its event in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.message import Message
from email.utils import formatdate
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.mail import DeliveryFailed, Mail, Mailer
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.events import topics, wiring
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent
from vrp.store import outbox
from vrp.store.database import DATABASE_ERRORS, Database, after_commit
from vrp.store.tables import notifications
from vrp.store.tables import outbox as outbox_table
from vrp.telemetry import context_from, current_traceparent, tracer
from vrp.transport.outage import Backoff, Outage

log = logging.getLogger(__name__)

PRODUCER = wiring.NOTIFIER.name
MAX_ATTEMPTS = 8
# A claim is a lease, renewed while the send is in flight: if the notifier holding it dies,
# another (or its own restart) takes the alert over once the lease runs out.
LEASE = timedelta(seconds=10)
RENEW_EVERY = LEASE.total_seconds() / 3
BATCH = 200
PER_ORGANISATION = 4  # concurrent sends to one receiving organisation's mail system

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in any mail client's source view, 7-bit safe


def render(row: Any, org_name: str, sender: str, public_url: str) -> Mail:
    """The alert email: a reference and a link, never personal data."""
    ref = reference(uuid.UUID(row.referral_id))
    # A stable Message-ID lets mail systems drop a resend after a crash mid-delivery.
    message_id = f"<{row.id}@vrp.referrals>"
    # compat32 Message: the same RFC 5322 output as EmailMessage for these ASCII headers,
    # at a fraction of the cost of the default policy's header parsing.
    msg = Message()
    msg["From"] = sender
    msg["To"] = row.address
    msg["Date"] = formatdate(usegmt=True)
    msg["Subject"] = f"New referral {ref} awaits your team"
    msg["Message-ID"] = message_id
    msg["X-VRP-Referral"] = ref
    msg["MIME-Version"] = "1.0"
    msg.set_payload(
        f"A referral ({ref}) has been routed to {org_name} and awaits a response.\n\n"
        f"Open it here: {public_url}/v1/inbox/{row.referral_id}\n\n"
        "This message deliberately contains no personal details.\n",
        _UTF8,
    )
    return Mail(sender, row.address, message_id, msg.as_bytes())


@dataclass
class _Outcome:
    row: Any
    sent_at: datetime | None = None
    error: str = ""
    retryable: bool = True
    traceparent: str | None = None


class AlertSender:
    """Delivers due alerts; safe with several notifier replicas (rows are leased first)."""

    def __init__(
        self,
        db: Database,
        transport: Mailer,
        configuration: Callable[[], RoutingConfiguration],
        sender: str,
        public_url: str,
        poll_interval: float,
        concurrency: int = 16,
    ) -> None:
        self._db = db
        self._transport = transport
        self._configuration = configuration
        self._sender = sender
        self._public_url = public_url
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._tracer = tracer("vrp.notifier")
        self._channel_slots = asyncio.Semaphore(concurrency)
        self._org_slots: dict[str, asyncio.Semaphore] = {}
        self._database = Outage("alert sender: database", log)
        self._channel = Outage("alert sender: email", log)

    def wake(self) -> None:
        """Look for due alerts now."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until stopped."""
        backoff = Backoff()
        try:
            while not stopping.is_set():
                self._wake.clear()
                try:
                    handled = await self.deliver_due(stopping=stopping)
                except DATABASE_ERRORS as exc:
                    self._database.failed(exc)
                    await backoff.sleep(stopping)
                    continue
                self._database.succeeded()
                backoff.reset()
                if handled == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        finally:
            await self._transport.close()

    async def deliver_due(self, limit: int = BATCH, stopping: asyncio.Event | None = None) -> int:
        """Lease due alerts, send them concurrently, record the outcomes together; returns
        how many were handled."""
        rows = await self._claim(limit)
        if not rows:
            return 0
        renewing = asyncio.create_task(self._renew([r.id for r in rows]))
        try:
            outcomes = await asyncio.gather(*(self._deliver(row) for row in rows))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._record(outcomes, stopping)
        return len(rows)

    async def _claim(self, limit: int) -> list[Any]:
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            due = (
                select(notifications)
                .where(
                    notifications.c.status.in_(("pending", "sending")),
                    notifications.c.next_attempt_at <= now,
                )
                .order_by(notifications.c.next_attempt_at)
                .limit(limit)
            )
            if not self._db.is_sqlite:
                due = due.with_for_update(skip_locked=True)
            rows = list(await conn.execute(due))
            if rows:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id.in_([r.id for r in rows]))
                    .values(
                        status="sending",
                        next_attempt_at=now + LEASE,
                        attempts=notifications.c.attempts + 1,
                    )
                )
        return rows

    async def _renew(self, ids: list[str]) -> None:
        # Keep the lease while sends are in flight (a slow mail server must not let a second
        # notifier take the same alerts over). A failed renewal is retried on the next tick.
        while True:
            await asyncio.sleep(RENEW_EVERY)
            with contextlib.suppress(*DATABASE_ERRORS):
                async with self._db.transaction(single_statement=True) as conn:
                    await conn.execute(
                        update(notifications)
                        .where(notifications.c.id.in_(ids), notifications.c.status == "sending")
                        .values(next_attempt_at=datetime.now(UTC) + LEASE)
                    )

    async def _deliver(self, row: Any) -> _Outcome:
        org = self._configuration().organisation(row.organisation)
        message = render(row, org.name if org else row.organisation, self._sender, self._public_url)
        org_slots = self._org_slots.setdefault(
            row.organisation, asyncio.Semaphore(PER_ORGANISATION)
        )
        async with org_slots, self._channel_slots:
            with self._tracer.start_as_current_span(
                "notifier send email",
                context=context_from(row.traceparent),
                kind=SpanKind.CLIENT,
                attributes={"vrp.referral_id": row.referral_id, "vrp.notification_id": row.id},
            ):
                try:
                    await self._transport.send(message)
                except DeliveryFailed as exc:
                    return _Outcome(row, error=str(exc), retryable=exc.retryable)
                # The alert-sent event continues the trace from this span.
                return _Outcome(row, sent_at=datetime.now(UTC), traceparent=current_traceparent())

    async def _record(self, outcomes: list[_Outcome], stopping: asyncio.Event | None) -> None:
        # What was sent must be recorded, or it is sent again when the lease runs out: keep
        # trying through a database outage (unless the process is stopping).
        backoff = Backoff()
        while True:
            try:
                async with self._db.transaction() as conn:
                    await self._write_outcomes(conn, outcomes)
                return
            except DATABASE_ERRORS as exc:
                self._database.failed(exc, "holding the outcomes and retrying")
                if stopping is None or stopping.is_set():
                    raise
                await backoff.sleep(stopping)

    async def _write_outcomes(self, conn: AsyncConnection, outcomes: list[_Outcome]) -> None:
        sent = [o for o in outcomes if o.sent_at is not None]
        retrying = [o for o in outcomes if o.sent_at is None and o.retryable]
        if retrying and not sent:
            self._channel.failed(retrying[0].error, "backing off per alert")
        elif sent and not self._channel.healthy:
            self._channel.succeeded()
            # The mail server is back: what failed while it was away goes now, not at the
            # end of each alert's own backoff (up to minutes).
            await conn.execute(
                update(notifications)
                .where(
                    notifications.c.status == "pending",
                    notifications.c.last_error.is_not(None),
                    notifications.c.next_attempt_at > datetime.now(UTC),
                )
                .values(next_attempt_at=datetime.now(UTC))
            )
            after_commit(conn, self.wake)
        if sent:
            # Only rows still ours: if our lease ran out and another notifier finished the
            # send first, it recorded the event and we must not record a second one.
            marked = set(
                (
                    await conn.execute(
                        update(notifications)
                        .where(
                            notifications.c.id.in_([o.row.id for o in sent]),
                            notifications.c.status == "sending",
                        )
                        .values(status="sent", sent_at=datetime.now(UTC), last_error=None)
                        .returning(notifications.c.id)
                    )
                ).scalars()
            )
            events = [
                outbox.row_values(
                    PRODUCER,
                    topics.ALERTS,
                    o.row.referral_id,
                    Envelope.wrap(
                        AlertSent(
                            referral_id=o.row.referral_id,
                            notification_id=o.row.id,
                            organisation=o.row.organisation,
                            channel="email",
                            sent_at=o.sent_at,
                        ),
                        "/vrp/notifier",
                        o.row.referral_id,
                    ).model_copy(update={"traceparent": o.traceparent}),
                )
                for o in sent
                if o.row.id in marked and o.sent_at is not None
            ]
            if events:
                await conn.execute(outbox_table.insert(), events)
                outbox.staged(conn)
        for o in outcomes:
            if o.sent_at is None:
                await self._failed(conn, o)

    async def _failed(self, conn: AsyncConnection, o: _Outcome) -> None:
        attempts = o.row.attempts + 1
        give_up = not o.retryable or attempts >= MAX_ATTEMPTS
        backoff = min(2**attempts, 900) * random.uniform(0.8, 1.2)
        if give_up:  # retryable failures are summarised by the channel's outage log
            log.warning(
                "alert %s failed for good (%s) after %d attempts", o.row.id, o.error, attempts
            )
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == o.row.id, notifications.c.status == "sending")
            .values(
                status="failed" if give_up else "pending",
                last_error=o.error[:200],
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=backoff),
            )
        )
