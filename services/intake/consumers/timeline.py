"""Intake's status view, built from the router's and notifier's events; escalated referrals
are handed back to the router, with an offer command, for their fallback."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.domain.referral import Referral
from vrp.events import topics
from vrp.events.commands import OfferReferral, WithdrawOffer
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent, ReferralDecided, ReferralEscalated
from vrp.store import timeline
from vrp.store.unit import Unit
from vrp.transport.worker import Delivery, EventHandler

Entry = tuple[dict[str, Any], str | None, bool]
"""A timeline row, the status it moves its referral to (if any), and whether it is a later
routed decision (a fallback, or the hub routing by hand) that may reopen the referral."""


def _decided(envelope: Envelope) -> Entry:
    d = envelope.payload(ReferralDecided)
    detail = {
        "recipients": [
            {"organisation": r.organisation, "intervention": r.intervention} for r in d.recipients
        ],
        "held_reasons": d.held_reasons,
        "hub_reasons": d.hub_reasons,
        "config_version": d.config_version,
    }
    row = _row(envelope, d.referral_id, d.outcome, d.decided_at, detail)
    return row, d.outcome, d.cause == "fallback" and d.outcome == "routed"


def _alert_sent(envelope: Envelope) -> Entry:
    a = envelope.payload(AlertSent)
    detail = {"organisation": a.organisation, "channel": a.channel, "kind": a.kind}
    return _row(envelope, a.referral_id, "alert-sent", a.sent_at, detail), None, False


def _escalated(envelope: Envelope) -> Entry:
    e = envelope.payload(ReferralEscalated)
    detail = {
        "organisation": e.organisation,
        "intervention": e.intervention,
        "fallback": e.fallback,
        # "withdraw" is settled by _withdraw: "withdrawn", or "kept" if it was answered first.
        "original": "kept" if e.original_offer == "keep" else WITHDRAW,
    }
    return _row(envelope, e.referral_id, "escalated", e.escalated_at, detail), None, False


WITHDRAW = "withdraw"
"""An escalation entry's `original` until its offer is withdrawn (or found answered)."""

ENTRIES: dict[str, Callable[[Envelope], Entry]] = {
    ReferralDecided.TYPE: _decided,
    AlertSent.TYPE: _alert_sent,
    ReferralEscalated.TYPE: _escalated,
}
"""The timeline entry each accepted event type makes."""


def _row(
    envelope: Envelope, referral_id: str, kind: str, at: datetime, detail: Mapping[str, object]
) -> dict[str, Any]:
    return {
        "event_id": envelope.id,
        "referral_id": referral_id,
        "type": kind,
        "at": at,
        "detail": detail,
    }


async def _offer_fallback(unit: Unit, referral_id: str, detail: dict[str, Any]) -> None:
    """Ask the router to offer an escalated referral to its fallback. Intake holds the
    referral, so the router can check the agreements and minimise it afresh."""
    body = await timeline.offerable_body(unit, referral_id)
    if body is None:
        return  # withdrawn meanwhile, or past retention: nobody else may be offered it
    command = OfferReferral(
        referral=Referral.model_validate(body),
        intervention=detail["fallback"],
        requested_by="escalation",
        instead_of=detail["intervention"],
    )
    unit.event(PRODUCER, topics.RECEIVED, referral_id, Envelope.wrap(command, SOURCE, referral_id))


async def _withdraw(unit: Unit, rows: list[dict[str, Any]], now: datetime) -> None:
    """Cancel the unaccepted offers these escalations withdraw (reason `escalated`), unless
    the team answered first; the referral awaits the hub (held) unless other offers stand,
    and a fallback's routed decision reopens it. Each entry says which happened."""
    for row in rows:
        d = row["detail"]
        rid = row["referral_id"]
        done = await timeline.withdraw_offer(
            unit, rid, d["intervention"], d["organisation"], lifecycle.ESCALATED, now
        )
        d["original"] = "withdrawn" if done else "kept"
        if done:
            # The router frees its place and tells the organisation on its partner topic.
            command = WithdrawOffer(
                referral_id=rid,
                organisation=d["organisation"],
                intervention=d["intervention"],
                reason=lifecycle.ESCALATED,
                withdrawn_at=now,
            )
            envelope = Envelope.wrap(command, SOURCE, rid)
            unit.event(PRODUCER, topics.RECEIVED, rid, envelope)
            states = (await timeline.offer_states(unit, [rid])).get(rid, {})
            status = lifecycle.after_withdrawal(states.values())
            await timeline.move_routed(unit, rid, status, now)


async def _reopen(unit: Unit, routed: dict[str, list[dict[str, str]]], now: datetime) -> None:
    """A later routed decision (a fallback, or the hub routing by hand) for a referral held
    or declined by everyone makes it routed again, unless the organisations it names have
    declined meanwhile: the inbox, a consumer of its own, may run ahead of this timeline."""
    ids = await timeline.reopenable(unit, routed)
    if not ids:
        return
    offers = await timeline.offer_states(unit, ids)
    for rid in ids:
        states = offers[rid]
        for recipient in routed[rid]:
            states.setdefault(recipient["intervention"], RecipientState.AWAITING)
        status = lifecycle.referral_state(ReferralState.ROUTED, states.values())
        await timeline.reopen(unit, rid, status, now)


class TimelineHandler:
    """Appends decision, alert and escalation events to the referral's timeline; updates its
    status."""

    def handlers(self) -> dict[str, EventHandler]:
        """Event type -> handler (all to one, so a mixed batch is written together)."""
        return dict.fromkeys(ENTRIES, self.write)

    async def write(self, unit: Unit, run: list[Delivery]) -> None:
        """Write a run with one lock statement, one insert and one update per outcome."""
        entries = [ENTRIES[d.envelope.type](d.envelope) for d in run]
        moves: dict[str, list[str]] = defaultdict(list)
        for row, outcome, _ in entries:
            if outcome is not None:
                moves[outcome].append(row["referral_id"])
        withdrawals = [
            row
            for row, _, _ in entries
            if row["type"] == "escalated" and row["detail"]["original"] == WITHDRAW
        ]
        locked = [i for ids in moves.values() for i in ids] + [
            r["referral_id"] for r in withdrawals
        ]
        if locked and not unit.db.is_sqlite:
            await timeline.lock_referrals(unit, locked)
        now = datetime.now(UTC)
        if withdrawals:  # rare (escalations only): no cost for the others
            await _withdraw(unit, withdrawals, now)
        new = await timeline.add_entries(unit, [row for row, _, _ in entries])
        for (row, _, _), d in zip(entries, run, strict=True):
            if row["type"] == "escalated" and row["event_id"] in new and row["detail"]["fallback"]:
                with d.current():  # the command continues the referral's trace
                    await _offer_fallback(unit, row["referral_id"], row["detail"])
        for outcome, ids in moves.items():
            await timeline.move_received(unit, ids, outcome, now)
        # Only a later decision can find its referral held or declined: first decisions
        # (nearly all of them) cost no query here.
        later = {row["referral_id"]: row["detail"]["recipients"] for row, _, r in entries if r}
        if later:
            await _reopen(unit, later, now)
