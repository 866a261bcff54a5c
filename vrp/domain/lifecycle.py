"""The referral lifecycle: one canonical state machine, pure (no I/O).

Per recipient (one receiving organisation's intervention), mapped from FHIR Task:
awaiting -> accepted | declined(reason); accepted -> in-progress | completed(outcome);
in-progress -> completed(outcome); any open state -> cancelled (by the originator, only
while nobody has accepted). Only the receiver moves its own response; only the originator
cancels. The referral's status is derived from the routing outcome and its recipients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class RecipientState(StrEnum):
    """Where one recipient's handling of a referral stands."""

    AWAITING = "awaiting"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ReferralState(StrEnum):
    """The referral as its originator sees it."""

    RECEIVED = "received"
    ROUTED = "routed"
    HELD = "held"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


_RESPONSES: dict[RecipientState, frozenset[RecipientState]] = {
    RecipientState.AWAITING: frozenset({RecipientState.ACCEPTED, RecipientState.DECLINED}),
    RecipientState.ACCEPTED: frozenset({RecipientState.IN_PROGRESS, RecipientState.COMPLETED}),
    RecipientState.IN_PROGRESS: frozenset({RecipientState.COMPLETED}),
    RecipientState.DECLINED: frozenset(),
    RecipientState.COMPLETED: frozenset(),
    RecipientState.CANCELLED: frozenset(),
}
_TAKEN_ON = frozenset(
    {RecipientState.ACCEPTED, RecipientState.IN_PROGRESS, RecipientState.COMPLETED}
)
_CANCELLABLE = frozenset({ReferralState.RECEIVED, ReferralState.ROUTED, ReferralState.HELD})
ESCALATED = "escalated"
"""The reason code of an offer withdrawn by its escalation (`on_escalation: withdraw`): not
accepted in time, it was passed to the hub and the fallback."""


class LifecycleViolation(Exception):
    """A transition the lifecycle forbids; the message is safe to show the caller."""


@dataclass(frozen=True)
class Verdict:
    """A permitted transition; `changed` is False for a harmless repeat (idempotent retry)."""

    state: RecipientState
    changed: bool


def respond(
    current: RecipientState,
    target: RecipientState,
    code: str | None = None,
    current_code: str | None = None,
) -> Verdict:
    """Check a receiver's response against its current state."""
    if target in (RecipientState.AWAITING, RecipientState.CANCELLED):
        raise LifecycleViolation(f"a receiver cannot set a referral to '{target}'")
    if current is RecipientState.CANCELLED and current_code == ESCALATED:
        raise LifecycleViolation(
            "this offer was withdrawn when the referral was escalated to the hub (it was not "
            f"accepted by its respond-by time), so it can no longer be {target}"
        )
    if current is RecipientState.CANCELLED:
        raise LifecycleViolation(
            f"the referrer cancelled this referral, so it can no longer be {target}"
        )
    if current is target:
        if code == current_code:
            return Verdict(current, changed=False)
        raise LifecycleViolation(f"the referral is already {current} with a different code")
    if target not in _RESPONSES[current]:
        allowed = sorted(_RESPONSES[current])
        hint = f"; from '{current}' it may become: {', '.join(allowed)}" if allowed else ""
        raise LifecycleViolation(f"a referral that is '{current}' cannot become '{target}'{hint}")
    return Verdict(target, changed=True)


def cancel(status: ReferralState, recipients: Iterable[RecipientState]) -> bool:
    """Check an originator's cancellation; False when it is already cancelled (a repeat)."""
    if status is ReferralState.CANCELLED:
        return False
    if any(r in _TAKEN_ON for r in recipients) or status not in _CANCELLABLE:
        raise LifecycleViolation(
            "a referral can be cancelled only before any receiving organisation accepted it"
        )
    return True


def referral_state(base: ReferralState, recipients: Iterable[RecipientState]) -> ReferralState:
    """The referral's status from its routing outcome and its recipients' states."""
    if base is ReferralState.CANCELLED:
        return base
    # An offer cancelled while the referral is not is one withdrawn by an escalation: it
    # no longer counts (the others decide, e.g. the fallback declining makes it declined).
    states = [s for s in recipients if s is not RecipientState.CANCELLED]
    taken = [s for s in states if s in _TAKEN_ON]
    if taken:
        if all(s is RecipientState.COMPLETED for s in taken):
            return ReferralState.COMPLETED
        if RecipientState.IN_PROGRESS in taken:
            return ReferralState.IN_PROGRESS
        return ReferralState.ACCEPTED
    if states and all(s is RecipientState.DECLINED for s in states):
        return ReferralState.DECLINED
    return base


def after_withdrawal(recipients: Iterable[RecipientState]) -> ReferralState:
    """A routed referral's status once an escalation withdrew an offer: held for the hub
    when no other offer stands (a fallback's offer reopens it), else as the others say."""
    standing = [s for s in recipients if s is not RecipientState.CANCELLED]
    if not standing:
        return ReferralState.HELD
    return referral_state(ReferralState.ROUTED, standing)


_CLOSABLE = frozenset({ReferralState.HELD, ReferralState.DECLINED})


def close(status: ReferralState, recipients: Iterable[RecipientState]) -> None:
    """Check the hub's closing of a referral: only one held, or declined by everyone."""
    if status not in _CLOSABLE or any(r in _TAKEN_ON for r in recipients):
        raise LifecycleViolation(
            "the hub can close only a referral held for triage or declined by every "
            "organisation offered it"
        )
