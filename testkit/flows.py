"""What several flow modules ask of a running system (testkit/systems.py): the
records about one referral on a topic, which referrals were decided, and a well-formed
received-referral event to inject."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from testkit.referrals import example
from testkit.systems import Record, System
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store.tables import decisions


def about(referral_id: str) -> Callable[[list[Record]], list[Record]]:
    """A filter keeping the records keyed by one referral."""
    return lambda records: [r for r in records if r.key == referral_id]


async def on_topic(system: System, topic: str, referral_id: str, count: int = 1) -> list[Record]:
    """The records about one referral on a topic, once there are at least `count`."""
    ours = about(referral_id)
    return ours(await system.read(topic, lambda rs: len(ours(rs)) >= count))


async def decided(system: System, ids: set[str]) -> set[str]:
    """Which of these referrals have a routing decision."""
    async with system.db.engine.connect() as conn:
        rows = await conn.execute(
            select(decisions.c.referral_id).where(decisions.c.referral_id.in_(ids))
        )
        return {r[0] for r in rows}


def received(source: str, **changes: Any) -> Envelope:
    """A well-formed received-referral event from `source`, as intake would publish it
    (`changes` as for `example`)."""
    referral = Referral(
        id=str(new_id()),
        source_org=source,
        received_at=datetime.now(UTC).isoformat(),
        local_authority="E08000025",
        submission=ReferralSubmission.model_validate(example(**changes)),
    )
    return Envelope.wrap(ReferralReceived(referral=referral), "/test", referral.id)
