"""Backoff for the Kafka client's metadata refreshes while the broker is away.

aiokafka's fetcher (a partition without a leader) and producer sender (a batch for such a
partition) ask the client for fresh metadata and wait for the answer in a loop with no
pause of their own. While the broker is down every refresh fails at once (connection
refused on loopback), so that loop spins: thousands of reconnects a second and most of a
core for as long as the outage lasts. It happens when the last metadata before the outage
said "no leader", which a single broker says while it shuts down: a matter of timing, hence
one outage in a few. Each client's refreshes are therefore spaced after a failure, growing
from `FIRST` to `CAP` seconds, and immediate again after one succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from vrp.transport.outage import Backoff

FIRST = 0.1
CAP = 2.0
WAIT = 30.0
"""Seconds a refresh may take before it counts as failed."""


class MetadataClient(Protocol):
    """The part of aiokafka's client this module wraps."""

    force_metadata_update: Callable[[], asyncio.Future[Any]]


class SpacedRefresh:
    """A client's `force_metadata_update`, spaced after failures; callers asking while a
    refresh is waiting or running share it."""

    def __init__(self, refresh: Callable[[], asyncio.Future[Any]]) -> None:
        self._refresh = refresh
        self._backoff = Backoff(first=FIRST, cap=CAP)
        self._not_before = 0.0
        self._pending: asyncio.Future[Any] | None = None

    def __call__(self) -> asyncio.Future[Any]:
        """A future for the next refresh's outcome (True when the metadata was updated)."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._spaced())
        # Shielded: a caller that gives up waiting must not cancel the others' refresh.
        return asyncio.shield(self._pending)

    async def _spaced(self) -> Any:
        loop = asyncio.get_running_loop()
        wait = self._not_before - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            # Bounded, so this task always ends, also when its client was closed mid-refresh
            # (a closed client never answers; a task left pending is reported at exit).
            updated = await asyncio.wait_for(self._refresh(), WAIT)
        except TimeoutError:
            updated = False
        if updated:
            self._backoff.reset()
            self._not_before = 0.0
        else:
            self._not_before = loop.time() + self._backoff.next_delay()
        return updated


def space_metadata_refreshes(client: MetadataClient) -> None:
    """Make this client's metadata refreshes back off while they fail (see the module)."""
    # aiokafka takes no client of ours and has no setting for this, so the one method is
    # replaced on this instance only; everything else of the client is untouched.
    client.force_metadata_update = SpacedRefresh(client.force_metadata_update)
