"""An escalation's withdrawn offer in the lifecycle, and respond-by times that count from the
offer (never before it arrives)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.router.routing import route
from testkit.referrals import example
from vrp.config_files import load_configuration
from vrp.domain import lifecycle
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id
from vrp.domain.lifecycle import LifecycleViolation, RecipientState, ReferralState
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events.models import PartnerReferral
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.tables import outbox
from vrp.store.unit import unit_of_work

A = RecipientState


def test_a_withdrawn_offer_refuses_a_response_saying_why() -> None:
    with pytest.raises(LifecycleViolation, match="withdrawn when the referral was escalated"):
        lifecycle.respond(A.CANCELLED, A.ACCEPTED, None, lifecycle.ESCALATED)
    with pytest.raises(LifecycleViolation, match="the referrer cancelled"):
        lifecycle.respond(A.CANCELLED, A.ACCEPTED, None, None)


def test_a_withdrawn_offer_no_longer_decides_the_referral() -> None:
    # Nobody else holds it: it awaits the hub (a fallback's routed offer reopens it).
    assert lifecycle.after_withdrawal([A.CANCELLED]) is ReferralState.HELD
    assert lifecycle.after_withdrawal([A.CANCELLED, A.AWAITING]) is ReferralState.ROUTED
    assert lifecycle.after_withdrawal([A.CANCELLED, A.ACCEPTED]) is ReferralState.ACCEPTED
    # The fallback declining too returns it to the hub as declined by everyone.
    assert lifecycle.referral_state(ReferralState.ROUTED, [A.CANCELLED, A.DECLINED]) is (
        ReferralState.DECLINED
    )


async def test_a_late_routed_referral_is_due_a_full_allowance_after_its_offer(
    sqlite_db: Database,
) -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    submission = ReferralSubmission.model_validate(example())
    # Received three days ago (a router backlog): 24 h from receipt would already be past.
    received = datetime.now(UTC) - timedelta(days=3)
    referral = Referral(
        id=str(new_id()),
        source_org="uhb",
        received_at=received.isoformat(),
        local_authority=area_for(submission.subject.postcode),
        submission=submission,
    )
    before = datetime.now(UTC)
    async with unit_of_work(sqlite_db) as unit:
        decision = await route(unit, config, b"key", referral, "event-1")
    assert decision is not None and decision.recipients
    async with sqlite_db.engine.connect() as conn:
        values = [json.loads(v) for v in (await conn.execute(select(outbox.c.value))).scalars()]
    offers = [v["data"] for v in values if v["type"] == PartnerReferral.TYPE]
    assert len(offers) == len(decision.recipients)
    for offer in offers:
        due = datetime.fromisoformat(offer["respond_by"])
        assert due >= before + timedelta(hours=24), due  # the whole allowance, from the offer
