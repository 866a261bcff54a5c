"""Reads of referral detail are audited: the answer goes out only once the record is kept."""

from __future__ import annotations

from collections.abc import Iterable

from services.intake.auth.keys import Partner
from vrp.domain.audit import READ, Entry
from vrp.store import audit
from vrp.store.database import Database


def actor(partner: Partner) -> str:
    """Who read: the organisation and the credential it used (API key id or OAuth client)."""
    return f"org:{partner.organisation}/key:{partner.key_id}"


async def record_reads(
    db: Database, partner: Partner, referral_ids: Iterable[str], operation: str
) -> None:
    """Append one read record per referral shown, in a transaction of its own."""
    entries = [
        Entry(READ, actor(partner), rid, None, {"via": "api", "operation": operation})
        for rid in dict.fromkeys(referral_ids)  # one record per referral, in page order
    ]
    if not entries:
        return
    async with db.transaction() as conn:
        await audit.append_many(conn, entries)
