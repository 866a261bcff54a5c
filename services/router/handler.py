"""The router's event handler: received referrals, cancellations and receivers' responses."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.followup import cancel, record_response
from services.router.routing import route
from vrp.domain.configuration import RoutingConfiguration
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralCancelled, ReferralReceived, ReferralResponded
from vrp.transport.worker import PoisonEvent


class RouterHandler:
    """Dispatches on event type; configuration comes from a provider so it can hot-reload."""

    def __init__(self, configuration: Callable[[], RoutingConfiguration], key: bytes) -> None:
        self._configuration = configuration
        self._key = key

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one event from the received or status topics."""
        if envelope.type == ReferralReceived.TYPE:
            referral = envelope.payload(ReferralReceived).referral
            await route(conn, self._configuration(), self._key, referral, envelope.id)
        elif envelope.type == ReferralCancelled.TYPE:
            await cancel(conn, self._configuration(), envelope.payload(ReferralCancelled))
        elif envelope.type == ReferralResponded.TYPE:
            await record_response(conn, envelope.payload(ReferralResponded))
        else:
            raise PoisonEvent(f"router cannot handle event type {envelope.type}")
