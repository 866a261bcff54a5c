"""The evidence pages' figures, prepared once and reused for a while: over a million
referrals the measures take seconds to minutes of database work, and an analyst, the
executive group's report and every CSV download ask for the same few periods again and
again. Figures say when they were prepared; a page never waits long for them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence.results import InterventionEvaluation, NeedsAssessment
from vrp.store import evidence
from vrp.store.database import Database
from vrp.store.unit import reading

log = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[str, str, date | None, date | None, str | None]
"""What was computed: (kind, configuration version, first day, last day, the one
intervention a pilot's evaluation is of)."""
KEPT = 64
"""Prepared results kept at most (the pages offer ten periods and each pilot)."""


@dataclass(frozen=True, slots=True)
class Prepared(Generic[T]):
    """Figures and when they were computed (the page's "figures as at")."""

    value: T
    at: datetime


class EvidenceResults:
    """Needs assessments and evaluations by period, each computed by one task however many
    requests ask at once, reused while younger than `fresh_for` seconds, and after that
    still shown while a fresh one is computed (0: computed for every request)."""

    def __init__(
        self,
        db: Database,
        fresh_for: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._fresh_for = fresh_for
        self._clock = clock
        self._prepared: dict[Key, Prepared[Any]] = {}
        self._running: dict[Key, asyncio.Task[Prepared[Any]]] = {}

    async def needs(
        self, config: RoutingConfiguration, span: Period, wait: float | None = None
    ) -> Prepared[NeedsAssessment] | None:
        """The needs assessment over `span` (None if not ready within `wait` seconds)."""
        return await self._get(*self._needs(config, span), wait)

    async def evaluations(
        self,
        config: RoutingConfiguration,
        span: Period | None,
        only: str | None = None,
        wait: float | None = None,
    ) -> Prepared[list[InterventionEvaluation]] | None:
        """Every intervention's evaluation over `span` against the same dates a year
        before; without `span`, `only`'s over its pilot against the time before it (or
        its last 365 days, evidence.evaluation). None if not ready within `wait` s."""
        return await self._get(*self._evaluations(config, span, only), wait)

    def _needs(
        self, config: RoutingConfiguration, span: Period
    ) -> tuple[Key, Callable[[datetime], Awaitable[NeedsAssessment]]]:
        async def compute(_: datetime) -> NeedsAssessment:
            async with reading(self._db) as unit, evidence.roomy(unit):
                return await evidence.needs(unit, config, span.start, span.end)

        return ("needs", config.version, span.start, span.end, None), compute

    def _evaluations(
        self, config: RoutingConfiguration, span: Period | None, only: str | None
    ) -> tuple[Key, Callable[[datetime], Awaitable[list[InterventionEvaluation]]]]:
        # Over one period every intervention costs what one does (the same few queries);
        # each pilot has its own dates.
        start, end = (span.start, span.end) if span else (None, None)
        one = None if span else only

        async def compute(now: datetime) -> list[InterventionEvaluation]:
            async with reading(self._db) as unit, evidence.roomy(unit):
                return await evidence.evaluation(unit, config, start, end, as_of=now, only=one)

        return ("evaluation", config.version, start, end, one), compute

    async def _get(
        self, key: Key, compute: Callable[[datetime], Awaitable[T]], wait: float | None
    ) -> Prepared[T] | None:
        if self._fresh_for <= 0:
            now = self._clock()
            return Prepared(await compute(now), now)
        found: Prepared[T] | None = self._prepared.get(key)
        if found is not None and self._age(found) < self._fresh_for:
            return found
        task = self._running.get(key) or self._start(key, compute)
        if found is not None:
            return found  # older than fresh_for: shown while the new figures are computed
        try:
            # Shielded: a request that stops waiting leaves the computation to finish for
            # the next one.
            result: Prepared[T] = await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            return None
        return result

    def _age(self, prepared: Prepared[Any]) -> float:
        return (self._clock() - prepared.at).total_seconds()

    def _start(
        self, key: Key, compute: Callable[[datetime], Awaitable[T]]
    ) -> asyncio.Task[Prepared[Any]]:
        async def run() -> Prepared[Any]:
            now = self._clock()
            return Prepared(await compute(now), now)

        task = asyncio.create_task(run(), name=f"evidence-{key[0]}")
        self._running[key] = task
        task.add_done_callback(lambda t: self._finished(key, t))
        return task

    def _finished(self, key: Key, task: asyncio.Task[Prepared[Any]]) -> None:
        self._running.pop(key, None)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            # The request waiting for it (if any) gets the error; older figures stay.
            log.warning("evidence figures (%s) could not be computed: %r", key[0], failure)
            return
        self._prepared[key] = task.result()
        # Figures of a configuration no longer in force are never asked for again.
        for old in [k for k in self._prepared if k[1] != key[1]]:
            del self._prepared[old]
        while len(self._prepared) > KEPT:
            del self._prepared[min(self._prepared, key=lambda k: self._prepared[k].at)]

    async def keep_prepared(
        self,
        stopping: asyncio.Event,
        config: Callable[[], RoutingConfiguration],
        spans: Callable[[date], Sequence[Period]],
        pilots: Callable[[RoutingConfiguration, date], Sequence[str]],
    ) -> None:
        """Until `stopping`, every `fresh_for` seconds compute, one after another, the
        figures the evidence pages open on (`spans` of today, and the evaluation of each
        of the `pilots`), so that an analyst's first visit finds them ready."""
        if self._fresh_for <= 0:
            return
        while not stopping.is_set():
            current = config()
            jobs: list[tuple[Key, Callable[[datetime], Awaitable[Any]]]] = []
            today = self._clock().date()
            for span in spans(today):
                jobs += [self._needs(current, span), self._evaluations(current, span, None)]
            jobs += [self._evaluations(current, None, i) for i in pilots(current, today)]
            for key, compute in jobs:
                found = self._prepared.get(key)
                if found is not None and self._age(found) < self._fresh_for / 2:
                    continue
                task = self._running.get(key) or self._start(key, compute)
                # Its failure is logged by _finished; a page computes on demand instead.
                await asyncio.wait([task])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._fresh_for)
