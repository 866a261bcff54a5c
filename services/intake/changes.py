"""State changes after submission: the originator cancels, receivers respond.

Each change is one transaction: intake's rows + a timeline row + the event in the outbox.
The referral row is locked first, so a cancellation and an acceptance never both win.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.api.schemas import Accept, Complete, Decline, InProgress
from services.intake.auth.keys import Partner
from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.identifiers import new_id
from vrp.domain.lifecycle import LifecycleViolation, RecipientState, ReferralState
from vrp.events import topics
from vrp.events.envelope import Envelope, EventData
from vrp.events.models import ReferralCancelled, ReferralResponded
from vrp.store import offers, referrals
from vrp.store.database import Database
from vrp.store.offers import Copy
from vrp.store.unit import Unit, unit_of_work


def record(
    unit: Unit,
    topic: str,
    referral_id: str,
    event: EventData,
    kind: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    """Stage a change's timeline row and its event (written with the rest of the unit)."""
    envelope = Envelope.wrap(event, SOURCE, referral_id)
    referrals.add_to_timeline(unit, envelope.id, referral_id, kind, at, detail)
    unit.event(PRODUCER, topic, referral_id, envelope)


async def cancel(db: Database, partner: Partner, referral_id: str, reason: str) -> None:
    """Withdraw a referral (originator only, before any acceptance); a repeat is a no-op."""
    async with unit_of_work(db) as unit:
        row = await referrals.lock(unit, referral_id)
        if row is None or row.source_org != partner.organisation:
            raise NotFound
        states = await offers.lock_states(unit, referral_id)
        try:
            if not lifecycle.cancel(ReferralState(row.status), states):
                return
        except LifecycleViolation as exc:
            raise Conflict(str(exc)) from None
        await withdraw(unit, referral_id, partner.organisation, reason, "cancelled", {})


async def withdraw(
    unit: Unit,
    referral_id: str,
    source_org: str,
    reason: str,
    kind: str,
    detail: dict[str, Any],
) -> None:
    """Cancel a locked referral and its open offers, and tell the router, who tells
    everyone holding it and the referrer (the caller checked the lifecycle)."""
    now = datetime.now(UTC)
    await referrals.set_status(unit, referral_id, ReferralState.CANCELLED, now)
    await offers.cancel_awaiting(unit, referral_id, now)
    event = ReferralCancelled(
        referral_id=referral_id, source_org=source_org, reason=reason, cancelled_at=now
    )
    record(unit, topics.RECEIVED, referral_id, event, kind, now, {"reason": reason} | detail)


Response = Accept | Decline | InProgress | Complete


async def respond(
    db: Database, partner: Partner, referral_id: str, response: Response
) -> tuple[str, bool]:
    """Apply a receiver's response (and the first contact it records); returns
    (intervention, changed)."""
    target = RecipientState(response.status)
    code = response.reason if isinstance(response, Decline) else None
    outcome = response.outcome if isinstance(response, Complete) else None
    contact = None if isinstance(response, Decline) else response.first_contact_at
    async with unit_of_work(db) as unit:
        referral = await referrals.lock(unit, referral_id)
        mine = await offers.lock_received(unit, partner.organisation, referral_id)
        if referral is None or not mine:
            raise NotFound
        entry = _choose(mine, response.intervention)
        now = datetime.now(UTC)
        new_contact = contact_to_record(entry, contact, now, f"{response.status}.first_contact_at")
        current = RecipientState(entry.status)
        if referral.status == ReferralState.CANCELLED:
            current = RecipientState.CANCELLED
        try:
            verdict = lifecycle.respond(
                current, target, code or outcome, entry.reason or entry.outcome
            )
        except LifecycleViolation as exc:
            raise Conflict(str(exc)) from None
        detail = {"organisation": partner.organisation, "intervention": entry.intervention}
        if new_contact is not None:
            await _record_contact(unit, referral_id, detail, new_contact, now)
        if not verdict.changed:
            return entry.intervention, new_contact is not None
        await offers.respond(unit, referral_id, entry.intervention, target, code, outcome, now)
        others = await offers.offer_states(unit, referral_id)
        status = lifecycle.referral_state(ReferralState.ROUTED, others)
        await referrals.set_status(unit, referral_id, status, now)
        event = ReferralResponded(
            referral_id=referral_id,
            organisation=partner.organisation,
            intervention=entry.intervention,
            status=response.status,
            reason=code,
            outcome=outcome,
            responded_at=now,
        )
        detail |= {"reason": code} if code else {}
        detail |= {"outcome": outcome} if outcome else {}
        record(unit, topics.STATUS, referral_id, event, str(target), now, detail)
    return entry.intervention, True


FIRST_CONTACT = "first-contact"
"""The timeline entry of a first contact's recording (its detail holds the contact time)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of ours a receiver's clock may be: a first contact 'now' is not refused."""


async def first_contact(
    db: Database, partner: Partner, referral_id: str, intervention: str | None, contact: datetime
) -> bool:
    """Record when the receiver first made contact with the person (the console's form; the
    API takes it with a response): only on an offer it accepted; whether it was new."""
    async with unit_of_work(db) as unit:
        referral = await referrals.lock(unit, referral_id)
        mine = await offers.lock_received(unit, partner.organisation, referral_id)
        if referral is None or not mine:
            raise NotFound
        entry = _choose(mine, intervention)
        if entry.status not in _TAKEN_ON or referral.status == ReferralState.CANCELLED:
            raise Conflict(
                f"first contact is recorded on a referral you accepted; this one is {entry.status}"
            )
        now = datetime.now(UTC)
        new_contact = contact_to_record(entry, contact, now, "first_contact_at")
        if new_contact is None:
            return False
        detail = {"organisation": partner.organisation, "intervention": entry.intervention}
        await _record_contact(unit, referral_id, detail, new_contact, now)
    return True


_TAKEN_ON = (RecipientState.ACCEPTED, RecipientState.IN_PROGRESS, RecipientState.COMPLETED)


async def _record_contact(
    unit: Unit, referral_id: str, detail: dict[str, Any], contact: datetime, now: datetime
) -> None:
    """The offer's first contact, and its timeline entry (no event: nobody is alerted)."""
    await offers.first_contact(unit, referral_id, detail["intervention"], contact, now)
    when = {"first_contact_at": contact.astimezone(UTC).isoformat()}
    referrals.add_to_timeline(unit, str(new_id()), referral_id, FIRST_CONTACT, now, detail | when)


def contact_to_record(
    entry: Copy, contact: datetime | None, now: datetime, field: str
) -> datetime | None:
    """The first contact to record now: None when none was given or it is the one recorded;
    refused when in the future, before the offer, or different from the one recorded."""
    if contact is None:
        return None
    if contact > now + CLOCK_SKEW:
        raise InvalidField(field, "is in the future")
    if contact < entry.received_at:
        offered = entry.received_at.astimezone(UTC).isoformat(timespec="seconds")
        raise InvalidField(field, f"is before the referral was offered to you ({offered})")
    if entry.first_contact_at is None:
        return contact
    if entry.first_contact_at == contact:
        return None
    recorded = entry.first_contact_at.astimezone(UTC).isoformat(timespec="seconds")
    raise Conflict(f"first contact was already recorded ({recorded}); it is not changed")


def _choose(mine: list[Copy], intervention: str | None) -> Copy:
    if intervention is not None:
        for row in mine:
            if row.intervention == intervention:
                return row
        raise InvalidField("intervention", "is not routed to you for this referral")
    if len(mine) > 1:
        raise InvalidField("intervention", "is required: several of your interventions")
    return mine[0]
