"""The referral lifecycle state machine (pure) and topic patterns."""

from __future__ import annotations

import pytest

from vrp.domain import lifecycle
from vrp.domain.lifecycle import LifecycleViolation, RecipientState, ReferralState
from vrp.events import topics
from vrp.events.wiring import TopicPattern

R = RecipientState


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (R.AWAITING, R.ACCEPTED),
        (R.AWAITING, R.DECLINED),
        (R.ACCEPTED, R.IN_PROGRESS),
        (R.ACCEPTED, R.COMPLETED),
        (R.IN_PROGRESS, R.COMPLETED),
    ],
)
def test_permitted_responses(current: RecipientState, target: RecipientState) -> None:
    assert lifecycle.respond(current, target) == lifecycle.Verdict(target, changed=True)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (R.AWAITING, R.IN_PROGRESS),
        (R.AWAITING, R.COMPLETED),
        (R.DECLINED, R.ACCEPTED),
        (R.COMPLETED, R.IN_PROGRESS),
        (R.IN_PROGRESS, R.ACCEPTED),
        (R.ACCEPTED, R.DECLINED),
        (R.CANCELLED, R.ACCEPTED),
        (R.AWAITING, R.CANCELLED),
        (R.ACCEPTED, R.AWAITING),
    ],
)
def test_forbidden_responses(current: RecipientState, target: RecipientState) -> None:
    with pytest.raises(LifecycleViolation):
        lifecycle.respond(current, target)


def test_repeating_a_response_is_harmless_unless_the_code_differs() -> None:
    assert not lifecycle.respond(R.DECLINED, R.DECLINED, "no-capacity", "no-capacity").changed
    with pytest.raises(LifecycleViolation):
        lifecycle.respond(R.DECLINED, R.DECLINED, "not-eligible", "no-capacity")


def test_accept_after_cancel_says_so() -> None:
    with pytest.raises(LifecycleViolation, match="cancelled"):
        lifecycle.respond(R.CANCELLED, R.ACCEPTED)


def test_cancel_only_before_acceptance() -> None:
    assert lifecycle.cancel(ReferralState.ROUTED, [R.AWAITING, R.DECLINED])
    assert lifecycle.cancel(ReferralState.HELD, [])
    assert not lifecycle.cancel(ReferralState.CANCELLED, [R.CANCELLED])
    for taken in (R.ACCEPTED, R.IN_PROGRESS, R.COMPLETED):
        with pytest.raises(LifecycleViolation):
            lifecycle.cancel(ReferralState.ROUTED, [R.AWAITING, taken])
    with pytest.raises(LifecycleViolation):
        lifecycle.cancel(ReferralState.COMPLETED, [])


def test_referral_state_is_derived_from_recipients() -> None:
    routed = ReferralState.ROUTED
    assert lifecycle.referral_state(routed, []) is routed
    assert lifecycle.referral_state(routed, [R.AWAITING, R.DECLINED]) is routed
    assert lifecycle.referral_state(routed, [R.DECLINED, R.DECLINED]) is ReferralState.DECLINED
    assert lifecycle.referral_state(routed, [R.ACCEPTED, R.DECLINED]) is ReferralState.ACCEPTED
    assert lifecycle.referral_state(routed, [R.ACCEPTED, R.IN_PROGRESS]) is (
        ReferralState.IN_PROGRESS
    )
    assert lifecycle.referral_state(routed, [R.COMPLETED, R.DECLINED]) is ReferralState.COMPLETED
    assert lifecycle.referral_state(routed, [R.COMPLETED, R.ACCEPTED]) is ReferralState.ACCEPTED
    cancelled = ReferralState.CANCELLED
    assert lifecycle.referral_state(cancelled, [R.CANCELLED]) is cancelled


def test_partner_topics_pattern() -> None:
    pattern = TopicPattern(topics.PARTNER_PREFIX, topics.PARTNER_SUFFIX)
    assert pattern.matches(topics.partner_referrals("navigators"))
    assert not pattern.matches("partner..referrals")
    assert not pattern.matches(topics.RECEIVED)
    assert topics.partner_of(topics.partner_referrals("wm-probation")) == "wm-probation"
    assert topics.partner_of(topics.DECIDED) is None
