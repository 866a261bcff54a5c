"""A receiving organisation's copies of a referral, as the router minimised them for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from vrp.store.database import Database
from vrp.store.tables import received_referrals


async def received(db: Database, organisation: str, referral_id: str) -> list[Row[Any]]:
    """The organisation's entries for one referral (one per intervention); none if it was
    not routed there, which callers answer exactly as for a referral that does not exist."""
    async with db.engine.connect() as conn:
        rows = list(
            await conn.execute(
                select(received_referrals)
                .where(
                    received_referrals.c.referral_id == referral_id,
                    received_referrals.c.organisation == organisation,
                )
                .order_by(received_referrals.c.intervention)
            )
        )
        await conn.rollback()
    return rows
