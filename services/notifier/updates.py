"""Close the loop: tell referrers what happened, and stop timers once a team responds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.staging import Staged
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import new_id
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferralStatus, ReferrerUpdate
from vrp.store.database import Database, after_commit
from vrp.store.tables import timers
from vrp.transport.worker import Delivery, PoisonEvent

RESPONDED = ("accepted", "declined", "in-progress", "completed")
"""A team acted on the referral: its reminder and escalation are no longer due."""
STOP = "stop"
ANY = "*"
"""A stop record's intervention when the whole referral is over (cancelled)."""
CODED = ("declined", "completed", "cancelled")
"""Statuses whose reason is a code from the vocabularies (a held reason may quote facts)."""


class StatusUpdateHandler:
    """Consumes referrer updates: alerts the referrer on its configured update channels
    (besides its Kafka status topic, which it may not read) and cancels timers that no longer
    apply."""

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
        """Handle one referrer update."""
        staged = Staged()
        await self._stage(conn, self._configuration(), envelope, staged)
        await self._save(conn, staged)

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Handle a batch of referrer updates, saving their alerts with one statement."""
        config, staged = self._configuration(), Staged()
        for d in deliveries:
            with d.span():  # the alert continues each referral's trace
                await self._stage(conn, config, d.envelope, staged)
        await self._save(conn, staged)

    async def _save(self, conn: AsyncConnection, staged: Staged) -> None:
        if staged.rows:
            after_commit(conn, self._wake_sender)
            await staged.save(self._db, conn)

    async def _stage(
        self,
        conn: AsyncConnection,
        config: RoutingConfiguration,
        envelope: Envelope,
        staged: Staged,
    ) -> None:
        if envelope.type != ReferrerUpdate.TYPE:
            raise PoisonEvent(f"notifier updates cannot handle event type {envelope.type}")
        u = envelope.payload(ReferrerUpdate)
        referrer, s = u.referrer, u.update
        await _stop_timers(self._db, conn, s)
        org = config.organisation(referrer)
        if org is None or not org.updates:
            return
        intervention = config.intervention(s.intervention) if s.intervention else None
        detail = {
            "status": s.status,
            "reason": (s.outcome or s.reason) if s.status in CODED else None,
            "intervention": s.intervention,
            "intervention_title": intervention.title if intervention else None,
        }
        key = f"{envelope.id}:{referrer}"
        staged.add(
            config, referrer, org.updates, "status", key, s.referral_id, detail, datetime.now(UTC)
        )


async def _stop_timers(db: Database, conn: AsyncConnection, s: PartnerReferralStatus) -> None:
    if s.status == "cancelled":
        intervention = ANY
        scope = timers.c.referral_id == s.referral_id
    elif s.status in RESPONDED and s.intervention:
        intervention = s.intervention
        scope = (timers.c.referral_id == s.referral_id) & (timers.c.intervention == s.intervention)
    else:
        return
    await conn.execute(
        update(timers).where(scope, timers.c.status == "waiting").values(status="cancelled")
    )
    # A stop record too: the decision that starts these timers is on another topic and may
    # be consumed after this response (a lagging consumer); the timer service honours it.
    now = datetime.now(UTC)
    stop = {
        "id": str(new_id()),
        "dedupe_key": f"{s.referral_id}:{intervention}:{STOP}",
        "referral_id": s.referral_id,
        "organisation": s.organisation or "",
        "intervention": intervention,
        "kind": STOP,
        "due_at": now,
        "status": "cancelled",
        "detail": {"status": s.status},
        "created_at": now,
    }
    await db.insert_ignore_returning(conn, timers, [stop], timers.c.id)
