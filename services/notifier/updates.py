"""Close the loop: tell referrers what happened, and stop timers once a team responds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notifier import replies, staging
from services.notifier.replies import FHIR, Change
from vrp.domain.configuration import RoutingConfiguration
from vrp.events.models import PartnerReferralStatus, ReferrerUpdate
from vrp.store import timers
from vrp.store.notifications import NewAlert
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler

RESPONDED = ("accepted", "declined", "in-progress", "completed")
"""A team acted on the referral: its reminder and escalation are no longer due."""
CODED = ("declined", "completed", "cancelled")
"""Statuses whose reason is a code from the vocabularies (a held reason may quote facts)."""


class StatusUpdateHandler:
    """Consumes referrer updates: alerts the referrer on its configured update channels
    (besides its Kafka status topic, which it may not read) and cancels timers that no longer
    apply."""

    def __init__(
        self,
        configuration: Callable[[], RoutingConfiguration],
        wake_sender: Callable[[], None],
    ) -> None:
        self._configuration = configuration
        self._wake_sender = wake_sender

    def handlers(self) -> dict[str, EventHandler]:
        """The updates group's table: event type -> handler."""
        return {ReferrerUpdate.TYPE: self.updated}

    async def updated(self, unit: Unit, deliveries: list[Delivery]) -> None:
        """Handle a run of referrer updates, saving their alerts with one statement."""
        config = self._configuration()
        alerts: list[NewAlert] = []
        fhir: list[Change] = []
        now = datetime.now(UTC)
        for d in deliveries:
            with d.current():  # the alert continues each referral's trace
                await self._stage(unit, config, d, alerts, fhir, now)
        alerts += await replies.stage(unit, config, fhir, now)
        await staging.save(unit, alerts, self._wake_sender)

    async def _stage(
        self,
        unit: Unit,
        config: RoutingConfiguration,
        d: Delivery,
        alerts: list[NewAlert],
        fhir: list[Change],
        now: datetime,
    ) -> None:
        envelope = d.envelope
        u = envelope.payload(ReferrerUpdate)
        referrer, s = u.referrer, u.update
        await _stop_timers(unit, s)
        org = config.organisation(referrer)
        if org is None or not org.updates:
            return
        intervention = config.intervention(s.intervention) if s.intervention else None
        detail = {
            "status": s.status,
            "reason": (s.outcome or s.reason) if s.status in CODED else None,
            "intervention": s.intervention,
            "intervention_title": intervention.title if intervention else None,
            "receiver": s.organisation,
        }
        key = f"{envelope.id}:{referrer}"
        # A FHIR reply only answers a message: which referrals came as one is read once
        # for the whole run (replies.stage).
        channels = [c for c in org.updates if c != FHIR]
        alerts += staging.alerts(
            config, referrer, channels, "status", key, s.referral_id, detail, now
        )
        if FHIR in org.updates:
            fhir.append(Change(d, referrer, s, key, detail))


async def _stop_timers(unit: Unit, s: PartnerReferralStatus) -> None:
    if s.status == "cancelled":  # the whole referral is over
        await timers.stop(unit, s.referral_id, None, s.organisation or "", s.status)
    elif s.status in RESPONDED and s.intervention:
        await timers.stop(unit, s.referral_id, s.intervention, s.organisation or "", s.status)
