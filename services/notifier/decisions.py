"""Turn decisions into pending alert rows: one per team, channel and referral, never two."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import new_id
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralDecided
from vrp.store.database import Database, after_commit
from vrp.store.tables import notifications
from vrp.telemetry import current_traceparent
from vrp.transport.worker import Delivery, PoisonEvent

log = logging.getLogger(__name__)


class DecisionHandler:
    """Consumes decisions and stages alerts; the sender delivers them after commit."""

    def __init__(
        self,
        db: Database,
        configuration: Callable[[], RoutingConfiguration],
        wake_sender: Callable[[], None],
    ) -> None:
        self._db = db
        self._configuration = configuration
        self._wake_sender = wake_sender

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Stage the alerts a decision calls for."""
        await self._insert(conn, self._alerts(self._configuration(), envelope))

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Stage the alerts of a batch of decisions with one statement."""
        config = self._configuration()
        rows: list[dict[str, Any]] = []
        for d in deliveries:
            with d.span():  # the alert continues each referral's trace
                rows.extend(self._alerts(config, d.envelope))
        await self._insert(conn, rows)

    async def _insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        if rows:
            after_commit(conn, self._wake_sender)
            await self._db.insert_ignore_returning(conn, notifications, rows, notifications.c.id)

    def _alerts(self, config: RoutingConfiguration, envelope: Envelope) -> list[dict[str, Any]]:
        if envelope.type != ReferralDecided.TYPE:
            raise PoisonEvent(f"notifier cannot handle event type {envelope.type}")
        decided = envelope.payload(ReferralDecided)
        if decided.outcome == "routed":
            targets = [(r.organisation, r.intervention) for r in decided.recipients]
        else:
            targets = [(config.hub, "hub-triage")]
        rows = []
        for org_id, purpose in targets:
            org = config.organisation(org_id)
            if org is None or org.contacts.email is None:
                # Nobody to alert by email: the referral still sits on the partner topic
                # and in the inbox; say so loudly instead of failing the whole decision.
                log.warning("no email contact for organisation %s", org_id)
                continue
            now = datetime.now(UTC)
            rows.append(
                {
                    "id": str(new_id()),
                    "dedupe_key": f"{decided.referral_id}:{org_id}:{purpose}:email:new-referral",
                    "referral_id": decided.referral_id,
                    "organisation": org_id,
                    "channel": "email",
                    "address": org.contacts.email,
                    "status": "pending",
                    "attempts": 0,
                    "traceparent": current_traceparent(),
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
        return rows
