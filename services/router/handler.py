"""The router's handlers: received referrals, offers asked for, cancellations and receivers'
responses (the types its consumer accepts, vrp/events/wiring.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.router.followup import cancel, record_response, withdraw_offer
from services.router.routing import RoutingBatch, offer_as_asked
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.referral import Referral
from vrp.events.commands import OfferReferral, OfferReferralV1, WithdrawOffer
from vrp.events.models import (
    ReferralCancelled,
    ReferralReceived,
    ReferralReceivedV1,
    ReferralReoffered,
    ReferralResponded,
)
from vrp.metrics import Metrics
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler


class RouterHandler:
    """The router's handler table; configuration comes from a provider so it can hot-reload."""

    def __init__(
        self,
        configuration: Callable[[], RoutingConfiguration],
        key: bytes,
        metrics: Metrics | None = None,
        speed: int = 1,
    ) -> None:
        self._configuration = configuration
        self._key = key
        self._metrics = metrics
        self._speed = speed

    def handlers(self) -> dict[str, EventHandler]:
        """Event or command type -> handler."""
        return {
            ReferralReceived.TYPE: self.received,
            OfferReferral.TYPE: self.offer,
            ReferralReceivedV1.TYPE: self.received,
            OfferReferralV1.TYPE: self.offer,
            ReferralReoffered.TYPE: self.reoffered,
            WithdrawOffer.TYPE: self.withdraw,
            ReferralCancelled.TYPE: self.cancelled,
            ReferralResponded.TYPE: self.responded,
        }

    async def received(self, unit: Unit, run: list[Delivery]) -> None:
        """Route a run of received referrals together: a handful of statements for all."""
        batch = RoutingBatch(unit, self._configuration(), self._key, self._speed)
        referrals = [_received(d) for d in run]
        await batch.prepare(referrals)
        for d, referral in zip(run, referrals, strict=True):
            with d.current():  # its events carry its own referral's trace
                self._count(unit, referral, batch.route(referral, d.envelope.id))
        await unit.flush()

    async def offer(self, unit: Unit, run: list[Delivery]) -> None:
        """Offer each referral where the hub or an escalation asked."""
        for d in run:
            with d.current():
                command = _offer(d)
                await offer_as_asked(unit, self._configuration(), self._key, command, self._speed)

    async def reoffered(self, unit: Unit, run: list[Delivery]) -> None:
        """The retired form of the offer command, still on the topic from before it."""
        for d in run:
            with d.current():
                old = d.envelope.payload(ReferralReoffered)
                command = OfferReferral(
                    referral=old.referral,
                    intervention=old.intervention,
                    requested_by="hub" if old.previous == HUB_TRIAGE else "escalation",
                    instead_of=None if old.previous == HUB_TRIAGE else old.previous,
                )
                await offer_as_asked(unit, self._configuration(), self._key, command, self._speed)

    async def withdraw(self, unit: Unit, run: list[Delivery]) -> None:
        """Withdraw each offer an escalation asked to."""
        for d in run:
            with d.current():
                await withdraw_offer(unit, d.envelope.payload(WithdrawOffer))

    async def cancelled(self, unit: Unit, run: list[Delivery]) -> None:
        """Tell everyone holding each referral that it was withdrawn."""
        for d in run:
            with d.current():
                await cancel(unit, self._configuration(), d.envelope.payload(ReferralCancelled))

    async def responded(self, unit: Unit, run: list[Delivery]) -> None:
        """Keep capacity right and tell each sender of a receiver's response."""
        for d in run:
            with d.current():
                await record_response(unit, d.envelope.payload(ReferralResponded))

    def _count(self, unit: Unit, referral: Referral, decision: Decision | None) -> None:
        # Counted once committed, so a batch retried after a database error counts once.
        if self._metrics is None or decision is None:
            return
        metrics = self._metrics
        received = datetime.fromisoformat(referral.received_at)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        seconds = (datetime.now(UTC) - received).total_seconds()
        unit.after_commit(lambda: metrics.decided(decision, seconds))


def _received(d: Delivery) -> Referral:
    """The referral of a received event, v2 or a retired v1 one still on the topic."""
    if d.envelope.type == ReferralReceivedV1.TYPE:
        return d.envelope.payload(ReferralReceivedV1).referral
    return d.envelope.payload(ReferralReceived).referral


def _offer(d: Delivery) -> OfferReferral:
    """An offer command, v2 or a retired v1 one still on the topic."""
    if d.envelope.type == OfferReferralV1.TYPE:
        old = d.envelope.payload(OfferReferralV1)
        return OfferReferral(**dict(old))
    return d.envelope.payload(OfferReferral)
