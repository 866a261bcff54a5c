"""The sealer: chains this process's committed audit records as soon as they are written."""

from __future__ import annotations

import asyncio
import logging

from vrp.store import audit
from vrp.store.database import DATABASE_ERRORS, Database
from vrp.transport.outage import Outage, work_until_stopped

log = logging.getLogger(__name__)


class Sealer:
    """Runs `audit.seal` shortly after each commit that recorded audit entries in this
    process, and every `poll` seconds for those written elsewhere (e.g. by a `vrp` command).

    It lingers a second before sealing, so that one short transaction chains what many
    commits recorded: sealing per commit would cost each referral a transaction more."""

    def __init__(self, db: Database, poll: float, linger: float = 1.0, batch: int = 500) -> None:
        self._db = db
        self._poll = poll
        self._linger = linger
        self._batch = batch
        self._wake = asyncio.Event()
        self.database = Outage("audit sealer: database", log)
        db.on_audit_commit(self._wake.set)

    async def run(self, stopping: asyncio.Event) -> None:
        """Seal until stopped; through a database outage with backoff."""
        await work_until_stopped(
            self.seal_once, self._wake, self._poll, stopping, self.database, DATABASE_ERRORS
        )

    async def seal_once(self) -> int:
        """After the linger, chain one batch of pending records; how many."""
        await asyncio.sleep(self._linger)
        async with self._db.transaction() as conn:
            return await audit.seal(conn, self._batch)
