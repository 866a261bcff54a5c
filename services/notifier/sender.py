"""Deliver pending alerts: claim, send, then record delivery and its event in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError

from services.notifier.mail import DeliveryFailed, MailTransport
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.tables import notifications
from vrp.telemetry import context_from, tracer

log = logging.getLogger(__name__)

PRODUCER = "notifier"
MAX_ATTEMPTS = 8
CLAIM_TIMEOUT = timedelta(minutes=2)


def render(row: Any, org_name: str, sender: str, public_url: str) -> EmailMessage:
    """The alert email: a reference and a link, never personal data."""
    ref = reference(uuid.UUID(row.referral_id))
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.address
    msg["Subject"] = f"New referral {ref} awaits your team"
    # A stable Message-ID lets mail systems drop a resend after a crash mid-delivery.
    msg["Message-ID"] = f"<{row.id}@vrp.referrals>"
    msg["X-VRP-Referral"] = ref
    msg.set_content(
        f"A referral ({ref}) has been routed to {org_name} and awaits a response.\n\n"
        f"Open it here: {public_url}/v1/inbox/{row.referral_id}\n\n"
        "This message deliberately contains no personal details.\n"
    )
    return msg


class AlertSender:
    """Delivers due alerts; safe with several notifier replicas (rows are claimed first)."""

    def __init__(
        self,
        db: Database,
        transport: MailTransport,
        configuration: Callable[[], RoutingConfiguration],
        sender: str,
        public_url: str,
        poll_interval: float,
    ) -> None:
        self._db = db
        self._transport = transport
        self._configuration = configuration
        self._sender = sender
        self._public_url = public_url
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._tracer = tracer("vrp.notifier")

    def wake(self) -> None:
        """Look for due alerts now."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until stopped."""
        while not stopping.is_set():
            self._wake.clear()
            try:
                sent = await self.deliver_due()
            except (DBAPIError, OSError, TimeoutError) as exc:
                log.warning("alert sender: %s; retrying", type(exc).__name__)
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def deliver_due(self, limit: int = 50) -> int:
        """Claim due alerts, send them, record the outcome; returns how many were handled."""
        rows = await self._claim(limit)
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _claim(self, limit: int) -> list[Any]:
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            due = (
                select(notifications)
                .where(
                    or_(
                        and_(
                            notifications.c.status == "pending",
                            notifications.c.next_attempt_at <= now,
                        ),
                        and_(
                            notifications.c.status == "sending",
                            notifications.c.next_attempt_at <= now - CLAIM_TIMEOUT,
                        ),
                    )
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
                        status="sending", next_attempt_at=now, attempts=notifications.c.attempts + 1
                    )
                )
        return rows

    async def _deliver(self, row: Any) -> None:
        org = self._configuration().organisation(row.organisation)
        message = render(row, org.name if org else row.organisation, self._sender, self._public_url)
        with self._tracer.start_as_current_span(
            "notifier send email",
            context=context_from(row.traceparent),
            kind=SpanKind.CLIENT,
            attributes={"vrp.referral_id": row.referral_id, "vrp.notification_id": row.id},
        ):
            try:
                await self._transport.send(message)
            except DeliveryFailed as exc:
                await self._failed(row, str(exc), exc.retryable)
                return
            await self._sent(row)

    async def _sent(self, row: Any) -> None:
        now = datetime.now(UTC)
        event = AlertSent(
            referral_id=row.referral_id,
            notification_id=row.id,
            organisation=row.organisation,
            channel="email",
            sent_at=now,
        )
        async with self._db.transaction() as conn:
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == row.id)
                .values(status="sent", sent_at=now, last_error=None)
            )
            await outbox.add(
                conn,
                PRODUCER,
                topics.ALERTS,
                row.referral_id,
                Envelope.wrap(event, "/vrp/notifier", row.referral_id),
            )

    async def _failed(self, row: Any, reason: str, retryable: bool) -> None:
        attempts = row.attempts + 1
        give_up = not retryable or attempts >= MAX_ATTEMPTS
        backoff = timedelta(seconds=min(2**attempts, 900))
        log.warning("alert %s failed (%s), attempt %d", row.id, reason, attempts)
        async with self._db.transaction() as conn:
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == row.id)
                .values(
                    status="failed" if give_up else "pending",
                    last_error=reason[:200],
                    next_attempt_at=datetime.now(UTC) + backoff,
                )
            )
