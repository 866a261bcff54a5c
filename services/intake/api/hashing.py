"""Password checks off the event loop: a few worker threads and a bounded queue, so a flood
of sign-ins neither stalls the partner API nor piles up work in memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.to_thread

from vrp.store.accounts import check_password


class Busy(Exception):
    """Every worker is busy and the queue is full: refuse now rather than wait."""


class PasswordChecks:
    """At most `workers` argon2 checks at once (each takes tens to hundreds of milliseconds
    of CPU and 64 MiB), at most `waiting` more queued; argon2 releases the GIL as it hashes."""

    def __init__(self, workers: int, waiting: int) -> None:
        self.workers = max(workers, 1)
        self.capacity = self.workers + max(waiting, 0)
        self.admitted = 0
        self._limiter: anyio.CapacityLimiter | None = None

    @contextmanager
    def admission(self) -> Iterator[None]:
        """A place in the queue for one sign-in's check, or Busy at once."""
        if self.admitted >= self.capacity:
            raise Busy
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def check(self, hashed: str | None, password: str) -> bool:
        """The password against the hash (None: the decoy), on a worker thread."""
        if self._limiter is None:  # made in the running loop, not at construction
            self._limiter = anyio.CapacityLimiter(self.workers)
        return await anyio.to_thread.run_sync(
            check_password, hashed, password, limiter=self._limiter
        )
