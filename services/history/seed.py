"""Seed a demo database with two years of fictional history, written in batches through the
store; refused on any configuration but the packaged demo's, and on a database seeded
before. Nothing is published: no outbox rows, so no consumer and no broker sees it."""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from services.history.draw import DAYS, Drawer, Drawn, draw_year
from services.history.returns import follow_up
from services.history.rows import HistoryRouter
from vrp.demo_configuration import is_demo_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.store import audit, history
from vrp.store.database import Database
from vrp.store.unit import reading, unit_of_work

BATCH = 500
"""Referrals written per transaction."""


class SeedRefused(Exception):
    """Why seeding did not start (the message is for the person running it)."""

    def __init__(self, message: str, seeded_before: bool = False) -> None:
        super().__init__(message)
        self.seeded_before = seeded_before


@dataclass(frozen=True, slots=True)
class Seeded:
    """What a seeding wrote, and how long it took."""

    referrals: int
    rows: dict[str, int]
    outcomes: dict[str, int]
    first: datetime
    last: datetime
    seconds: float


def history_end(now: datetime) -> datetime:
    """Where the history stops: midnight (UTC) at the start of today, so every week shown
    on the dashboard but the current one is a whole week."""
    return datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)


async def seed(
    db: Database,
    config: RoutingConfiguration,
    key: bytes,
    seed_value: int = 1,
    now: datetime | None = None,
    days: int = DAYS,
    batch: int = BATCH,
) -> Seeded:
    """Write `days` of fictional history ending at midnight before `now`: deterministic
    for a seed value and day. Raises SeedRefused on a configuration that is not the
    packaged demo's, or on a database that already holds seeded history."""
    if not is_demo_configuration(config):
        raise SeedRefused(
            "refused: the configuration in force is not the packaged demo partnership, and "
            "fictional history must never enter a real partnership's database"
        )
    async with reading(db) as unit:
        earlier = await history.seeded(unit)
    if earlier:
        raise SeedRefused(
            f"refused: this database already holds seeded demo history ({earlier} referrals); "
            "seed a fresh database instead",
            seeded_before=True,
        )
    started = time.perf_counter()
    end = history_end(now or datetime.now(UTC))
    rng = random.Random(seed_value)
    drawer = Drawer(rng)
    router = HistoryRouter(config, key, rng, end)
    totals: Counter[str] = Counter()
    written: list[Drawn] = []
    rows = history.Rows()  # one batch's rows, cleared once written
    for d in lived(router, drawer, draw_year(rng, end, days, drawer), rows):
        written.append(d)
        if len(written) % batch == 0:
            async with unit_of_work(db) as unit:
                await history.write(unit, rows)
            totals.update(rows.counts())
            rows.clear()
    async with unit_of_work(db) as unit:
        await history.write(unit, rows)
    totals.update(rows.counts())
    await audit.seal_all(db)
    return Seeded(
        referrals=len(written),
        rows=dict(totals),
        outcomes=dict(router.outcomes),
        first=written[0].received_at if written else end,
        last=written[-1].received_at if written else end,
        seconds=time.perf_counter() - started,
    )


def lived(
    router: HistoryRouter, drawer: Drawer, drawn: list[Drawn], rows: history.Rows
) -> Iterator[Drawn]:
    """Route and live out each referral oldest first, adding its rows to `rows` (which the
    caller may write and clear between referrals), with the re-referrals that the offers'
    endings lead to woven in at their times."""
    queue = [(d.received_at, d.referral.id, d) for d in drawn]
    heapq.heapify(queue)
    while queue:
        _, _, d = heapq.heappop(queue)
        offers = router.add(rows, d)
        again = follow_up(router.rng, drawer, d, offers, router.end)
        if again is not None:
            heapq.heappush(queue, (again.received_at, again.referral.id, again))
        yield d


def describe(s: Seeded) -> str:
    """What was written, for the person who ran it."""
    tables = ", ".join(f"{n} {t}" for t, n in sorted(s.rows.items()))
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(s.outcomes.items()))
    span = f"{s.first:%d %b %Y} to {s.last:%d %b %Y}"
    return (
        f"seeded {s.referrals} fictional referrals received {span} ({outcomes}) "
        f"in {s.seconds:.1f} s\nrows: {tables}\n"
        "nothing was published: the history is in the database only"
    )
