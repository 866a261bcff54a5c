"""Turn decisions into pending alert rows: one per team, channel and referral, never two."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import new_id
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralDecided
from vrp.store.database import Database, after_commit
from vrp.store.tables import notifications
from vrp.telemetry import current_traceparent
from vrp.transport.worker import PoisonEvent

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
        if envelope.type != ReferralDecided.TYPE:
            raise PoisonEvent(f"notifier cannot handle event type {envelope.type}")
        decided = envelope.payload(ReferralDecided)
        config = self._configuration()
        if decided.outcome == "routed":
            for r in decided.recipients:
                await self._stage(conn, config, decided.referral_id, r.organisation, r.intervention)
        else:
            await self._stage(conn, config, decided.referral_id, config.hub, "hub-triage")

    async def _stage(
        self,
        conn: AsyncConnection,
        config: RoutingConfiguration,
        referral_id: str,
        org_id: str,
        purpose: str,
    ) -> None:
        org = config.organisation(org_id)
        if org is None or org.contacts.email is None:
            # Nobody to alert by email: the referral still sits on the partner topic and
            # in the inbox; say so loudly instead of failing the whole decision.
            log.warning("no email contact for organisation %s", org_id)
            return
        now = datetime.now(UTC)
        after_commit(conn, self._wake_sender)
        await self._db.insert_ignore(
            conn,
            notifications,
            id=str(new_id()),
            dedupe_key=f"{referral_id}:{org_id}:{purpose}:email:new-referral",
            referral_id=referral_id,
            organisation=org_id,
            channel="email",
            address=org.contacts.email,
            status="pending",
            attempts=0,
            traceparent=current_traceparent(),
            created_at=now,
            next_attempt_at=now,
        )
