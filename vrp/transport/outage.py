"""Backoff with jitter, and one log line per change of a dependency's state (not per try)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff with full jitter, so replicas do not retry in lockstep."""

    first: float = 0.1
    cap: float = 5.0
    _attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next try (random in [first/2, min(cap, first * 2**n)])."""
        ceiling = min(self.cap, self.first * 2**self._attempt)
        self._attempt += 1
        return random.uniform(min(self.first / 2, ceiling), ceiling)

    async def sleep(self, stopping: asyncio.Event | None = None) -> None:
        """Wait the next delay, returning early if stopping is set."""
        delay = self.next_delay()
        if stopping is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=delay)

    def reset(self) -> None:
        """After a success: start again from the first delay."""
        self._attempt = 0


@dataclass
class Outage:
    """Tracks whether a component can reach what it depends on, and logs only transitions.

    One WARNING when a failure starts, one INFO every `every` seconds while it lasts (with
    the count of failed tries), one INFO when it recovers (with the duration and count).
    Messages carry exception type names only, never values.
    """

    component: str
    log: logging.Logger
    every: float = 30.0
    failures: int = 0
    since: float | None = None
    last_reason: str = ""
    _last_report: float = field(default=0.0)

    @property
    def healthy(self) -> bool:
        """True when the last try succeeded (or none failed yet)."""
        return self.since is None

    def failed(self, exc: BaseException | str, action: str = "retrying") -> None:
        """Record one failed try: an exception (logged by type name) or a reason that
        quotes no values."""
        now = time.monotonic()
        reason = exc if isinstance(exc, str) else type(exc).__name__
        self.failures += 1
        if self.since is None:
            self.since = now
            self._last_report = now
            self.last_reason = reason
            self.log.warning("%s: lost (%s); %s with backoff", self.component, reason, action)
        elif now - self._last_report >= self.every:
            self.log.info(
                "%s: still failing after %d tries in %.0f s (now %s)",
                self.component,
                self.failures,
                now - self.since,
                reason,
            )
            self.last_reason = reason
            self._last_report = now

    def succeeded(self) -> None:
        """Record a successful try; logs the recovery if there was an outage."""
        if self.since is not None:
            self.log.info(
                "%s: recovered after %d failed tries in %.1f s",
                self.component,
                self.failures,
                time.monotonic() - self.since,
            )
        self.since = None
        self.failures = 0
        self.last_reason = ""


async def work_until_stopped(
    step: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    poll: float,
    stopping: asyncio.Event,
    database: Outage,
    errors: tuple[type[BaseException], ...],
) -> None:
    """Run step until stopped: again at once while it finds work, else after `wake` or
    `poll` seconds; through a database outage (one of `errors`) with backoff."""
    backoff = Backoff()
    while not stopping.is_set():
        wake.clear()
        try:
            handled = await step()
        except errors as exc:
            database.failed(exc)
            await backoff.sleep(stopping)
            continue
        database.succeeded()
        backoff.reset()
        if handled == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll)
