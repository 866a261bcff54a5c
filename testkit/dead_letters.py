"""Dead letters as a flow test finds them, on either transport: the original in the
restricted table, and the letter on the topic that refers to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import select

from testkit.systems import TIMEOUT, Record, System
from vrp.store.dead_letters import DeadLetterOriginal, original
from vrp.store.tables import dead_letter_originals


async def stored_original(system: System, found: Callable[[bytes], bool]) -> DeadLetterOriginal:
    """The dead-lettered original for which `found(original)` holds, once it is stored."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        async with system.db.engine.connect() as conn:
            rows = await conn.execute(select(dead_letter_originals.c.id))
            refs = [r[0] for r in rows]
            kept = [o for ref in refs if (o := await original(conn, ref)) and found(o.original)]
        if kept or time.monotonic() > deadline:
            assert len(kept) == 1, system.explain("router")
            return kept[0]
        await asyncio.sleep(0.05)


async def letter_for(system: System, kept: DeadLetterOriginal) -> Record:
    """The dead letter on the topic that refers to a stored original."""

    def ours(letters: list[Record]) -> list[Record]:
        return [r for r in letters if r.value["data"].get("original_ref") == kept.id]

    letters = ours(await system.dead_letters(lambda rs: bool(ours(rs))))
    assert len(letters) == 1, system.explain("router")
    return letters[0]
