"""Intake's consumer of the dead-letter topic: a referral one of whose events no consumer
could process shows it on its timeline (which consumer, and why), for its sender through
the status API and for the hub in the console, instead of waiting in silence."""

from __future__ import annotations

from typing import Any

from vrp.events.models import DeadLetter, DeadLetterV1
from vrp.store import timeline
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler

FAILED = "processing-failed"
"""The timeline entry's type."""


class DeadLetterHandler:
    """Puts each dead letter of a known referral on that referral's timeline."""

    def handlers(self) -> dict[str, EventHandler]:
        """Event type -> handler (the retired v1 letters still on the topic too)."""
        return {DeadLetter.TYPE: self.stuck, DeadLetterV1.TYPE: self.stuck}

    async def stuck(self, unit: Unit, run: list[Delivery]) -> None:
        """One timeline entry per letter whose key is a referral this intake holds."""
        rows = [_entry(d) for d in run if d.message.key]
        known = await timeline.known_referrals(unit, {r["referral_id"] for r in rows})
        rows = [r for r in rows if r["referral_id"] in known]
        if rows:
            await timeline.add_entries(unit, rows)


def _entry(d: Delivery) -> dict[str, Any]:
    # A v1 letter carries the original event (personal data included): only its consumer
    # and reason are read, as from a v2 letter, which never carries it.
    letter: DeadLetter | DeadLetterV1 = (
        d.envelope.payload(DeadLetter)
        if d.envelope.type == DeadLetter.TYPE
        else d.envelope.payload(DeadLetterV1)
    )
    return {
        "event_id": d.envelope.id,
        "referral_id": d.message.key,
        "type": FAILED,
        "at": d.envelope.time,
        "detail": {"consumer": letter.consumer, "reason": letter.reason},
    }
