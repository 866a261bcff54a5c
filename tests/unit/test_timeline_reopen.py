"""A later routed decision (a fallback, or the hub routing by hand) reopens a held or
declined referral, but never undoes a decline that the inbox recorded before the
timeline heard of the decision (two consumers, either may run first)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.intake.consumers.timeline import TimelineHandler
from testkit.handlers import handle
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.events.envelope import Envelope
from vrp.events.models import RecipientSummary, ReferralDecided
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referrals
from vrp.store.unit import unit_of_work


async def referral(db: Database, status: ReferralState, offers: dict[str, RecipientState]) -> str:
    """A referral in `status`, with the navigators' entries for `offers` (by intervention)."""
    rid, now = str(uuid.uuid4()), datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            referrals.insert().values(
                id=rid,
                reference="VRP-TEST",
                source_org="uhb",
                idempotency_key=rid,
                request_hash="x",
                status=status,
                body={},
                created_at=now,
                updated_at=now,
            )
        )
        for intervention, state in offers.items():
            await conn.execute(
                received_referrals.insert().values(
                    referral_id=rid,
                    intervention=intervention,
                    organisation="navigators",
                    reference="VRP-TEST",
                    event_id=str(uuid.uuid4()),
                    payload={},
                    status=state,
                    received_at=now,
                    updated_at=now,
                )
            )
    return rid


async def decide(db: Database, rid: str, intervention: str) -> ReferralState:
    """Feed the timeline a routed decision to `intervention`; the referral's status after."""
    decided = ReferralDecided(
        referral_id=rid,
        reference="VRP-TEST",
        source_org="uhb",
        outcome="routed",
        config_version="v",
        held_reasons=[],
        decided_at=datetime.now(UTC),
        cause="fallback",
        recipients=[
            RecipientSummary(
                organisation="navigators",
                intervention=intervention,
                agreement_id="a",
                agreement_version=1,
                flow_id="f",
                items=[],
            )
        ],
    )
    async with unit_of_work(db) as unit:
        await handle(unit, TimelineHandler().handlers(), Envelope.wrap(decided, "/test", rid))
        await unit.flush()
        status = await unit.conn.execute(select(referrals.c.status).where(referrals.c.id == rid))
        return ReferralState(status.scalar_one())


@pytest.mark.parametrize(
    ("before", "offers", "to", "after"),
    [
        # Held, routed by hand: routed.
        (ReferralState.HELD, {}, "nav-a", ReferralState.ROUTED),
        # Declined by everyone, offered to another: routed again.
        (ReferralState.DECLINED, {"nav-a": RecipientState.DECLINED}, "nav-b", ReferralState.ROUTED),
        # Declined by the very organisation this decision names, before the timeline heard
        # of the decision: still declined (it goes back to the hub).
        (
            ReferralState.DECLINED,
            {"nav-a": RecipientState.DECLINED},
            "nav-a",
            ReferralState.DECLINED,
        ),
        # Accepted before the timeline heard: never moved back.
        (
            ReferralState.ACCEPTED,
            {"nav-a": RecipientState.ACCEPTED},
            "nav-a",
            ReferralState.ACCEPTED,
        ),
    ],
)
async def test_a_later_routed_decision_reopens_only_what_is_still_open(
    sqlite_db: Database,
    before: ReferralState,
    offers: dict[str, RecipientState],
    to: str,
    after: ReferralState,
) -> None:
    rid = await referral(sqlite_db, before, offers)
    assert await decide(sqlite_db, rid, to) is after
