"""Turn decisions into pending alerts and the timers that follow them up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notifier import staging
from services.notifier.staging import EMAIL_ONLY, FROM_RECEIPT
from vrp.domain import sla
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.index import HUB_TRIAGE
from vrp.events.models import ReferralDecided
from vrp.store import timers
from vrp.store.notifications import NewAlert
from vrp.store.timers import NewTimer
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler


class DecisionHandler:
    """Consumes decisions: stages alerts (the sender delivers them after commit) and starts
    each routed referral's reminder and escalation timers."""

    def __init__(
        self,
        configuration: Callable[[], RoutingConfiguration],
        wake_sender: Callable[[], None],
        speed: int = 1,
    ) -> None:
        self._configuration = configuration
        self._wake_sender = wake_sender
        self._speed = speed

    def handlers(self) -> dict[str, EventHandler]:
        """The decisions group's table: event type -> handler."""
        return {ReferralDecided.TYPE: self.decided}

    async def decided(self, unit: Unit, deliveries: list[Delivery]) -> None:
        """Stage what a run of decisions calls for, with one statement per table."""
        config = self._configuration()
        alerts: list[NewAlert] = []
        due: list[NewTimer] = []
        for d in deliveries:
            with d.current():  # the alerts and timers continue each referral's trace
                self._stage(config, d.envelope.payload(ReferralDecided), alerts, due)
        await staging.save(unit, alerts, self._wake_sender)
        await timers.start(unit, due)

    def _stage(
        self,
        config: RoutingConfiguration,
        d: ReferralDecided,
        alerts: list[NewAlert],
        due: list[NewTimer],
    ) -> None:
        now = datetime.now(UTC)
        # The first decision's alerts are timed from the referral's receipt when they are
        # sent (vrp_referral_alert_seconds); a fallback's or the hub's later offer is not.
        timed = {FROM_RECEIPT: True} if d.cause == "received" else {}
        # The urgency the partnership gives the risk level, and the risk code itself.
        urgent = {"urgency": config.codes.urgency_of(d.urgency or ""), "risk": d.urgency}
        if d.outcome == "held":
            hub = config.organisation(config.hub)
            detail = {"intervention": HUB_TRIAGE, **urgent, "status": "held", **timed}
            key = f"{d.referral_id}:{config.hub}:{HUB_TRIAGE}"
            channels = hub.channels if hub else EMAIL_ONLY
            alerts += staging.alerts(
                config, config.hub, channels, "new-referral", key, d.referral_id, detail, now
            )
            return
        for r in d.recipients:
            intervention = config.intervention(r.intervention)
            # The router set respond_by (at its clock's speed); older decisions lack it.
            respond_by = r.respond_by or sla.respond_by(d.decided_at, intervention, self._speed)
            detail = {
                "intervention": r.intervention,
                "intervention_title": intervention.title if intervention else None,
                **urgent,
                "respond_by": respond_by.isoformat(),
                **timed,
            }
            key = f"{d.referral_id}:{r.organisation}:{r.intervention}"
            channels = intervention.channels if intervention else EMAIL_ONLY
            alerts += staging.alerts(
                config, r.organisation, channels, "new-referral", key, d.referral_id, detail, now
            )
            due.append(
                NewTimer(
                    d.referral_id,
                    r.organisation,
                    r.intervention,
                    "reminder",
                    sla.reminder_at(respond_by, intervention, self._speed),
                    detail,
                    now,
                )
            )
            at = sla.escalation_at(respond_by, intervention, self._speed)
            if at is not None:
                due.append(
                    NewTimer(
                        d.referral_id, r.organisation, r.intervention, "escalation", at, detail, now
                    )
                )
