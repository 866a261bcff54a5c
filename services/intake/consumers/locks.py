"""One order of locking for intake's writers of `referrals` rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.tables import referrals


async def lock_referrals(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, str]:
    """Lock these referrals' rows in id order, all at once; returns each one's status.

    Intake's consumers each write many referrals per transaction. Taking every row lock up
    front, in one global order, means two of them can wait for each other but never
    deadlock (PostgreSQL; SQLite serialises writers anyway).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(referrals.c.id, referrals.c.status)
        .where(referrals.c.id.in_(wanted))
        .order_by(referrals.c.id)
        .with_for_update()
    )
    return {r.id: r.status for r in rows}
