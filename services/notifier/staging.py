"""Which alerts an occasion calls for: one row per recipient and channel, never two."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vrp.domain.vocabulary import Channel
from vrp.store import notifications
from vrp.store.notifications import NewAlert
from vrp.store.staged_alerts import address as address
from vrp.store.staged_alerts import alerts as alerts
from vrp.store.unit import Unit

EMAIL_ONLY: Sequence[Channel] = ("email",)
"""Channels for an organisation or intervention the configuration no longer has."""
FROM_RECEIPT = "from_receipt"
"""Detail flag of a new-referral alert whose first delivery is timed from the receipt."""


async def save(unit: Unit, staged: list[NewAlert], wake_sender: Callable[[], None]) -> None:
    """Insert the alerts not staged before (one statement) and wake the sender once the unit
    has committed."""
    if staged:
        unit.after_commit(wake_sender)
        await notifications.add(unit, staged)
