"""Whether the database answers (readiness)."""

from __future__ import annotations

from sqlalchemy import text

from vrp.store.unit import Unit


async def ping(unit: Unit) -> None:
    """Run the cheapest statement; raises what the database (or reaching it) raised."""
    await unit.conn.execute(text("SELECT 1"))
