"""A receiver's copies of referrals (`received_referrals`): its inbox, its responses, and
the hub's triage copies.

A copy is of one of two kinds: 'offer', an intervention's offer to its organisation, which
the organisation accepts or declines; or 'triage', the VRU hub's copy of a referral held
because nobody could lawfully receive it, which is no offer (its intervention column holds
the hub-triage purpose). Whatever asks about offers filters with `OFFERS`, here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, case, func, select, tuple_, update

from vrp.domain.lifecycle import RecipientState
from vrp.store.tables import received_referrals
from vrp.store.unit import Unit

OFFER = "offer"
TRIAGE = "triage"
OFFERS: ColumnElement[bool] = received_referrals.c.kind == OFFER
"""The copies that are offers: every copy but the hub's triage copies."""

_t = received_referrals.c


class Position(NamedTuple):
    """A place in the inbox's oldest-first order."""

    received_at: datetime
    referral_id: str
    intervention: str


@dataclass(frozen=True, slots=True)
class Copy:
    """One organisation's copy of a referral, exactly as the router minimised it for it."""

    referral_id: str
    intervention: str
    organisation: str
    reference: str
    event_id: str
    payload: dict[str, Any]
    status: str
    reason: str | None
    outcome: str | None
    received_at: datetime
    updated_at: datetime
    reduced_at: datetime | None
    kind: str
    accepted_at: datetime | None
    first_contact_at: datetime | None
    closed_at: datetime | None

    @property
    def position(self) -> Position:
        """This copy's place in the inbox's oldest-first order."""
        return Position(self.received_at, self.referral_id, self.intervention)


@dataclass(frozen=True, slots=True)
class Page:
    """Copies in inbox order, and whether more follow the last one."""

    copies: list[Copy]
    more: bool


@dataclass(slots=True)
class Copies:
    """A referral's copies as the hub sees them: its own triage copy, and the offers."""

    triage: Copy | None = None
    offers: list[Copy] = field(default_factory=list)


_COLUMNS = (
    _t.referral_id,
    _t.intervention,
    _t.organisation,
    _t.reference,
    _t.event_id,
    _t.payload,
    _t.status,
    _t.reason,
    _t.outcome,
    _t.received_at,
    _t.updated_at,
    _t.reduced_at,
    _t.kind,
    _t.accepted_at,
    _t.first_contact_at,
    _t.closed_at,
)


def _copy(row: Row[*tuple[Any, ...]]) -> Copy:
    return Copy(**row._mapping)


_OPEN_FIRST = case(
    (_t.status == RecipientState.AWAITING, 0),
    (_t.status == RecipientState.ACCEPTED, 1),
    (_t.status == RecipientState.IN_PROGRESS, 2),
    else_=3,
)


async def inbox(
    unit: Unit,
    organisation: str,
    status: str | None = None,
    after: Position | None = None,
    limit: int = 50,
    open_first: bool = False,
) -> Page:
    """The organisation's copies, oldest first (the partner API's pages: those after a
    position), or open ones first (the console), in status if given; at most limit."""
    if open_first and after is not None:
        raise ValueError("positions are in the oldest-first order")
    query = select(*_COLUMNS).where(_t.organisation == organisation)
    if status is not None:
        query = query.where(_t.status == status)
    if after is not None:
        query = query.where(tuple_(_t.received_at, _t.referral_id, _t.intervention) > after)
    if open_first:
        query = query.order_by(_OPEN_FIRST, _t.received_at, _t.referral_id)
    else:
        query = query.order_by(_t.received_at, _t.referral_id, _t.intervention)
    # One more than asked: whether another page follows, without a count.
    rows = [_copy(r) for r in await unit.conn.execute(query.limit(limit + 1))]
    return Page(rows[:limit], len(rows) > limit)


async def received(unit: Unit, organisation: str, referral_id: str) -> list[Copy]:
    """The organisation's copies of one referral (one per intervention); none if it was
    not routed there."""
    rows = await unit.conn.execute(
        select(*_COLUMNS)
        .where(_t.referral_id == referral_id, _t.organisation == organisation)
        .order_by(_t.intervention)
    )
    return [_copy(r) for r in rows]


async def of_referral(unit: Unit, referral_id: str) -> list[Copy]:
    """Every copy of a referral (the hub's too), in the order they arrived."""
    rows = await unit.conn.execute(
        select(*_COLUMNS)
        .where(_t.referral_id == referral_id)
        .order_by(_t.received_at, _t.intervention)
    )
    return [_copy(r) for r in rows]


async def for_hub(unit: Unit, referral_ids: Sequence[str]) -> dict[str, Copies]:
    """Each referral's copies, the hub's triage copy apart from the offers."""
    rows = await unit.conn.execute(select(*_COLUMNS).where(_t.referral_id.in_(referral_ids)))
    found = {i: Copies() for i in referral_ids}
    for r in rows:
        copy = _copy(r)
        copies = found[copy.referral_id]
        if copy.kind == TRIAGE:
            copies.triage = copy
        else:
            copies.offers.append(copy)
    return found


async def offered(unit: Unit, referral_id: str, intervention: str) -> bool:
    """Whether the referral was offered to the intervention."""
    found = await unit.conn.execute(
        select(_t.status).where(
            _t.referral_id == referral_id, _t.intervention == intervention, OFFERS
        )
    )
    return found.first() is not None


async def offer_states(unit: Unit, referral_id: str) -> list[RecipientState]:
    """The states of a referral's offers (the hub's triage copy is none: it never accepts
    or declines)."""
    rows = await unit.conn.execute(select(_t.status).where(_t.referral_id == referral_id, OFFERS))
    return [RecipientState(s) for s in rows.scalars()]


async def lock_states(unit: Unit, referral_id: str) -> list[RecipientState]:
    """Lock every copy of a referral; their states."""
    rows = await unit.conn.execute(
        select(_t.status).where(_t.referral_id == referral_id).with_for_update()
    )
    return [RecipientState(s) for s in rows.scalars()]


async def lock_received(unit: Unit, organisation: str, referral_id: str) -> list[Copy]:
    """Lock the organisation's copies of a referral, for its response."""
    rows = await unit.conn.execute(
        select(*_COLUMNS)
        .where(_t.referral_id == referral_id, _t.organisation == organisation)
        .with_for_update()
    )
    return [_copy(r) for r in rows]


async def respond(
    unit: Unit,
    referral_id: str,
    intervention: str,
    status: RecipientState,
    reason: str | None,
    outcome: str | None,
    at: datetime,
) -> None:
    """Record a receiver's response on its (locked) copy, with the offer's times: when it
    was accepted, and when it was declined or completed (the first time only)."""
    times: dict[str, Any] = {}
    if status is RecipientState.ACCEPTED:
        times["accepted_at"] = func.coalesce(_t.accepted_at, at)
    if status in _CLOSING:
        times["closed_at"] = func.coalesce(_t.closed_at, at)
    await unit.conn.execute(
        update(received_referrals)
        .where(_t.referral_id == referral_id, _t.intervention == intervention)
        .values(status=status, reason=reason, outcome=outcome, updated_at=at, **times)
    )


_CLOSING = frozenset({RecipientState.DECLINED, RecipientState.COMPLETED})


async def first_contact(
    unit: Unit, referral_id: str, intervention: str, contact_at: datetime, at: datetime
) -> None:
    """Record when the receiver first made contact with the person, on its (locked) copy."""
    await unit.conn.execute(
        update(received_referrals)
        .where(_t.referral_id == referral_id, _t.intervention == intervention)
        .values(first_contact_at=contact_at, updated_at=at)
    )


async def cancel_awaiting(unit: Unit, referral_id: str, at: datetime) -> None:
    """Cancel the referral's copies still awaiting an answer (it was withdrawn)."""
    await unit.conn.execute(
        update(received_referrals)
        .where(_t.referral_id == referral_id, _t.status == RecipientState.AWAITING)
        .values(status=RecipientState.CANCELLED, updated_at=at)
    )
