"""Turn decisions into pending alerts and the timers that follow them up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.staging import EMAIL_ONLY, Staged
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import new_id
from vrp.domain.index import HUB_TRIAGE
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralDecided
from vrp.store.database import Database, after_commit
from vrp.store.tables import timers
from vrp.telemetry import current_traceparent
from vrp.transport.worker import Delivery, PoisonEvent


class DecisionHandler:
    """Consumes decisions: stages alerts (the sender delivers them after commit) and starts
    each routed referral's reminder and escalation timers."""

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
        """Stage what one decision calls for."""
        staged, due = Staged(), list[dict[str, Any]]()
        self._stage(self._configuration(), envelope, staged, due)
        await self._save(conn, staged, due)

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Stage what a batch of decisions calls for, with one statement per table."""
        config = self._configuration()
        staged, due = Staged(), list[dict[str, Any]]()
        for d in deliveries:
            with d.span():  # the alerts and timers continue each referral's trace
                self._stage(config, d.envelope, staged, due)
        await self._save(conn, staged, due)

    async def _save(self, conn: AsyncConnection, staged: Staged, due: list[dict[str, Any]]) -> None:
        if staged.rows:
            after_commit(conn, self._wake_sender)
            await staged.save(self._db, conn)
        if due:
            await self._db.insert_ignore_returning(conn, timers, due, timers.c.id)

    def _stage(
        self,
        config: RoutingConfiguration,
        envelope: Envelope,
        staged: Staged,
        due: list[dict[str, Any]],
    ) -> None:
        if envelope.type != ReferralDecided.TYPE:
            raise PoisonEvent(f"notifier cannot handle event type {envelope.type}")
        d = envelope.payload(ReferralDecided)
        now = datetime.now(UTC)
        if d.outcome == "held":
            hub = config.organisation(config.hub)
            detail = {"intervention": HUB_TRIAGE, "urgency": d.urgency, "status": "held"}
            key = f"{d.referral_id}:{config.hub}:{HUB_TRIAGE}"
            channels = hub.channels if hub else EMAIL_ONLY
            staged.add(
                config, config.hub, channels, "new-referral", key, d.referral_id, detail, now
            )
            return
        for r in d.recipients:
            intervention = config.intervention(r.intervention)
            respond_by = r.respond_by or d.decided_at + timedelta(
                hours=intervention.acceptance_sla_hours if intervention else 48
            )
            detail = {
                "intervention": r.intervention,
                "intervention_title": intervention.title if intervention else None,
                "urgency": d.urgency,
                "respond_by": respond_by.isoformat(),
            }
            key = f"{d.referral_id}:{r.organisation}:{r.intervention}"
            channels = intervention.channels if intervention else EMAIL_ONLY
            staged.add(
                config, r.organisation, channels, "new-referral", key, d.referral_id, detail, now
            )
            due.append(
                _timer(
                    d.referral_id,
                    r.organisation,
                    r.intervention,
                    "reminder",
                    respond_by,
                    detail,
                    now,
                )
            )
            if intervention and intervention.escalate_after_hours:
                at = respond_by + timedelta(hours=intervention.escalate_after_hours)
                due.append(
                    _timer(
                        d.referral_id, r.organisation, r.intervention, "escalation", at, detail, now
                    )
                )


def _timer(
    referral_id: str,
    organisation: str,
    intervention: str,
    kind: str,
    due_at: datetime,
    detail: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": str(new_id()),
        "dedupe_key": f"{referral_id}:{intervention}:{kind}",
        "referral_id": referral_id,
        "organisation": organisation,
        "intervention": intervention,
        "kind": kind,
        "due_at": due_at,
        "status": "waiting",
        "detail": detail,
        "traceparent": current_traceparent(),
        "created_at": now,
    }
