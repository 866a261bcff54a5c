"""Audit records of people viewing a referral's detail in the console."""

from __future__ import annotations

from vrp.domain.audit import READ, Entry
from vrp.store import audit
from vrp.store.accounts import Person
from vrp.store.database import Database


async def record_view(db: Database, person: Person, referral_id: str, page: str) -> None:
    """Append who viewed which referral on which page, before the page is sent."""
    entry = Entry(READ, person.actor, referral_id, None, {"via": "console", "operation": page})
    async with db.transaction() as conn:
        await audit.append_many(conn, [entry])
