"""Intake's status view, built from the router's and notifier's events; escalated referrals
are handed back to the router for their fallback."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.consumers.locks import lock_referrals
from services.intake.submission import PRODUCER, SOURCE
from vrp.domain import lifecycle
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import RecipientState, ReferralState
from vrp.domain.referral import Referral
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent, ReferralDecided, ReferralEscalated, ReferralReoffered
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.tables import received_referrals, referral_timeline, referrals
from vrp.transport.worker import Delivery, PoisonEvent

Entry = tuple[dict[str, Any], str | None, bool]
"""A timeline row, the status it moves its referral to (if any), and whether it is a later
routed decision (a fallback, or the hub routing by hand) that may reopen the referral."""


def _entry(envelope: Envelope) -> Entry:
    """The timeline entry for an event."""
    if envelope.type == ReferralDecided.TYPE:
        d = envelope.payload(ReferralDecided)
        detail = {
            "recipients": [
                {"organisation": r.organisation, "intervention": r.intervention}
                for r in d.recipients
            ],
            "held_reasons": d.held_reasons,
            "config_version": d.config_version,
        }
        row = _row(envelope, d.referral_id, d.outcome, d.decided_at, detail)
        return row, d.outcome, d.cause == "fallback" and d.outcome == "routed"
    if envelope.type == AlertSent.TYPE:
        a = envelope.payload(AlertSent)
        detail = {"organisation": a.organisation, "channel": a.channel, "kind": a.kind}
        return _row(envelope, a.referral_id, "alert-sent", a.sent_at, detail), None, False
    if envelope.type == ReferralEscalated.TYPE:
        e = envelope.payload(ReferralEscalated)
        detail = {
            "organisation": e.organisation,
            "intervention": e.intervention,
            "fallback": e.fallback,
        }
        return _row(envelope, e.referral_id, "escalated", e.escalated_at, detail), None, False
    raise PoisonEvent(f"intake cannot handle event type {envelope.type}")


def _row(
    envelope: Envelope, referral_id: str, kind: str, at: datetime, detail: dict[str, object]
) -> dict[str, Any]:
    return {
        "event_id": envelope.id,
        "referral_id": referral_id,
        "type": kind,
        "at": at,
        "detail": detail,
    }


async def _reoffer(conn: AsyncConnection, referral_id: str, detail: dict[str, Any]) -> None:
    """Ask the router to offer an escalated referral to its fallback. Intake holds the
    referral, so the router can check the agreements and minimise it afresh."""
    row = (
        await conn.execute(
            select(referrals.c.body, referrals.c.status, referrals.c.reduced_at).where(
                referrals.c.id == referral_id
            )
        )
    ).first()
    if row is None or row.status == ReferralState.CANCELLED:
        return  # withdrawn meanwhile: nobody else may be offered it
    if row.reduced_at is not None:
        return  # past retention: only coded facts remain, nothing left to offer
    event = ReferralReoffered(
        referral=Referral.model_validate(row.body),
        intervention=detail["fallback"],
        previous=detail["intervention"],
    )
    envelope = Envelope.wrap(event, SOURCE, referral_id)
    await outbox.add(conn, PRODUCER, topics.RECEIVED, referral_id, envelope)


async def _reopen(
    conn: AsyncConnection, routed: dict[str, list[dict[str, str]]], now: datetime
) -> None:
    """A later routed decision (a fallback, or the hub routing by hand) for a referral held
    or declined by everyone makes it routed again, unless the organisations it names have
    declined meanwhile: the inbox, a consumer of its own, may run ahead of this timeline."""
    reopenable = (ReferralState.HELD, ReferralState.DECLINED)
    ids = list(
        (
            await conn.execute(
                select(referrals.c.id).where(
                    referrals.c.id.in_(routed), referrals.c.status.in_(reopenable)
                )
            )
        ).scalars()
    )
    if not ids:
        return
    offers: dict[str, dict[str, RecipientState]] = defaultdict(dict)
    rows = await conn.execute(
        select(
            received_referrals.c.referral_id,
            received_referrals.c.intervention,
            received_referrals.c.status,
        ).where(
            received_referrals.c.referral_id.in_(ids),
            received_referrals.c.intervention != HUB_TRIAGE,
        )
    )
    for r in rows:
        offers[r.referral_id][r.intervention] = RecipientState(r.status)
    for rid in ids:
        states = offers[rid]
        for recipient in routed[rid]:
            states.setdefault(recipient["intervention"], RecipientState.AWAITING)
        await conn.execute(
            update(referrals)
            .where(referrals.c.id == rid, referrals.c.status.in_(reopenable))
            .values(
                status=lifecycle.referral_state(ReferralState.ROUTED, states.values()),
                updated_at=now,
            )
        )


class TimelineHandler:
    """Appends decision and alert events to the referral's timeline; updates its status."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(self, conn: AsyncConnection, envelope: Envelope) -> None:
        """Handle one decided or alert-sent event."""
        await self._write(conn, [_entry(envelope)])

    async def handle_batch(self, conn: AsyncConnection, deliveries: list[Delivery]) -> None:
        """Handle a batch with one lock statement, one insert and one update per outcome."""
        entries = []
        for d in deliveries:
            with d.span():  # each event's consumer span joins its referral's trace
                entries.append(_entry(d.envelope))
        await self._write(conn, entries)

    async def _write(self, conn: AsyncConnection, entries: list[Entry]) -> None:
        if not entries:
            return
        moves: dict[str, list[str]] = defaultdict(list)
        for row, outcome, _ in entries:
            if outcome is not None:
                moves[outcome].append(row["referral_id"])
        if moves and not self._db.is_sqlite:
            await lock_referrals(conn, (i for ids in moves.values() for i in ids))
        new = await self._db.insert_ignore_returning(
            conn, referral_timeline, [row for row, _, _ in entries], referral_timeline.c.event_id
        )
        for row, _, _ in entries:
            if row["type"] == "escalated" and row["event_id"] in new and row["detail"]["fallback"]:
                await _reoffer(conn, row["referral_id"], row["detail"])
        now = datetime.now(UTC)
        for outcome, ids in moves.items():
            await conn.execute(
                update(referrals)
                .where(referrals.c.id.in_(ids), referrals.c.status == ReferralState.RECEIVED)
                .values(status=outcome, updated_at=now)
            )
        # Only a later decision can find its referral held or declined: first decisions
        # (nearly all of them) cost no query here.
        later = {row["referral_id"]: row["detail"]["recipients"] for row, _, r in entries if r}
        if later:
            await _reopen(conn, later, now)
