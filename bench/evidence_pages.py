"""bench.evidence's timing helpers and its pages step: each evidence page over HTTP
through the intake app, first on a first visit and then with its figures prepared,
interleaved with the baseline."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.evidence_data import end_of_data
from testkit.console import signed_in
from testkit.runtime import runtime_settings, serving
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.people import Role
from vrp.settings import Settings
from vrp.store import accounts
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

ANALYST, PASSWORD = "bench.analyst", "bench-only-analyst-password"


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def within(done: list[float], budget: float) -> bool:
    """Whether to time one more run: always the first three, then while the runs so far
    took less than `budget` seconds (a slow figure is measured fewer times, and says so)."""
    return len(done) < 3 or sum(done) < budget


async def first_visit(client: httpx.AsyncClient, address: str) -> dict[str, float]:
    """A first visit to a page: how long its first answer took (202, being prepared, unless
    the background preparation had already finished), and how long until the figures
    were there, asking again every second as the analyst's "Show the figures" would."""
    start = time.perf_counter()
    answer = await client.get(address)
    first = time.perf_counter() - start
    while answer.status_code == 202:
        await asyncio.sleep(1.0)
        answer = await client.get(address)
    if answer.status_code != 200:
        raise RuntimeError(f"{address}: {answer.status_code}")
    whole = time.perf_counter() - start
    return {"first_answer_ms": round(first * 1000, 1), "figures_s": round(whole, 1)}


async def pages(
    url: str,
    config: RoutingConfiguration,
    runs: int,
    budget: float,
    baseline: Callable[[], Awaitable[object]],
    prepared: dict[str, dict[str, float]],
) -> dict[str, list[float]]:
    """Each evidence page over HTTP through the intake app (its own process's runtime on
    the same database), signed in as an analyst: first the first visit (into `prepared`),
    then `runs` times each with the figures prepared, interleaved with the baseline so
    that both see the same machine."""
    db = Database(url)
    try:
        async with unit_of_work(db) as unit:
            now = datetime.now(UTC)
            await accounts.add(
                unit, ANALYST, "Bench analyst", config.hub, Role.ANALYST, PASSWORD, now
            )
    except accounts.UsernameTaken:  # a database benchmarked before (--database-url)
        async with unit_of_work(db) as unit:
            await accounts.set_password(unit, ANALYST, PASSWORD, datetime.now(UTC))
    await db.dispose()
    year = str(end_of_data().year - 1)
    first = config.interventions[0].id
    addresses = {
        "page overview (last quarter)": "/console/evidence",
        f"page overview (year {year})": f"/console/evidence?period={year}",
        f"page intervention {first}": f"/console/evidence/interventions/{first}",
        "page quarterly report": "/console/evidence/report",
    }
    # The product's own reuse of figures (runtime_settings turns it off for tests).
    settings = runtime_settings(
        url,
        demo_partners=False,
        mail_dir=Path(tempfile.mkdtemp()),
        console_evidence_fresh_seconds=Settings().console_evidence_fresh_seconds,
        # A real database's old copies were reduced hour by hour as they fell due; none of
        # the generated two years' were, and reducing that backlog would compete with the
        # pages.
        referral_retention_days=3650,
    )
    seconds: dict[str, list[float]] = {"baseline": [], **{name: [] for name in addresses}}
    async with serving(settings, ("intake",), timeout=300) as served:
        client = served.client
        await signed_in(client, ANALYST, PASSWORD)

        async def get(address: str) -> None:
            answer = await client.get(address)
            if answer.status_code != 200:
                raise RuntimeError(f"{address}: {answer.status_code}")

        for name, address in addresses.items():
            prepared[name] = await first_visit(client, address)
        for _ in range(runs):
            seconds["baseline"].append(await timed(baseline))
            for name, address in addresses.items():
                if within(seconds[name], budget):
                    seconds[name].append(await timed(lambda a=address: get(a)))  # type: ignore[misc]
    return seconds
