"""Which vocabulary codes the stored decisions use (for `vrp rules check --database`)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from vrp.store.database import Database
from vrp.store.tables import decisions


async def stored_codes(url: str, batch: int = 20_000) -> dict[str, Counter[str]]:
    """vocabulary -> code -> how many stored decisions' facts use it."""
    out: dict[str, Counter[str]] = {"reasons": Counter(), "override_grounds": Counter()}
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            query = select(decisions.c.facts).where(decisions.c.facts.is_not(None))
            result = await conn.stream(query.execution_options(yield_per=batch))
            async for rows in result.partitions(batch):
                for (facts,) in rows:
                    out["reasons"].update(facts.get("reasons", []))
                    if facts.get("override_ground"):
                        out["override_grounds"][facts["override_ground"]] += 1
            await conn.rollback()
    finally:
        await db.dispose()
    return out
