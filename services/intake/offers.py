"""A receiving organisation's copies of a referral, as the router minimised them for it."""

from __future__ import annotations

from vrp.store import offers
from vrp.store.database import Database
from vrp.store.offers import Copy
from vrp.store.unit import reading


async def received(db: Database, organisation: str, referral_id: str) -> list[Copy]:
    """The organisation's entries for one referral (one per intervention); none if it was
    not routed there, which callers answer exactly as for a referral that does not exist."""
    async with reading(db) as unit:
        return await offers.received(unit, organisation, referral_id)


async def inbox(
    db: Database,
    organisation: str,
    status: str | None = None,
    after: offers.Position | None = None,
    limit: int = 50,
    open_first: bool = False,
) -> offers.Page:
    """The organisation's inbox: oldest first and paged (after a position), or open ones
    first; only entries in status if given."""
    async with reading(db) as unit:
        return await offers.inbox(unit, organisation, status, after, limit, open_first)
