"""/health and /ready on the router's and notifier's own port: ready when the database
answers and every consumer has joined and made progress lately; else 503 naming what."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.metrics import STALLED_AFTER, Readiness, readiness, serve
from testkit.ports import free_port
from vrp.metrics import Metrics
from vrp.store.database import Database
from vrp.transport.worker import Worker


def worker(name: str, joined: bool, progressed_ago: float | None) -> Worker:
    """A consumer as the runtime has it, in the given state (never run here)."""
    w = Worker(name, "router", None, None, {})  # type: ignore[arg-type]
    w.joined = joined
    w.progressed_at = None if progressed_ago is None else time.monotonic() - progressed_ago
    return w


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database that answers."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/vrp.db")
    yield database
    await database.dispose()


async def test_ready_when_the_database_answers_and_every_consumer_progresses(
    db: Database,
) -> None:
    assert await readiness(db, [worker("vrp-router", True, 0.5)])() == {}


async def test_a_consumer_not_joined_or_stalled_is_named(db: Database) -> None:
    problems = await readiness(
        db,
        [
            worker("vrp-notifier", False, None),
            worker("vrp-notifier-updates", True, STALLED_AFTER + 12),
            worker("vrp-router", True, 1),
        ],
    )()
    assert problems == {
        "vrp-notifier": "not joined",
        "vrp-notifier-updates": f"no progress for {STALLED_AFTER + 12:.0f} s",
    }


async def test_an_unreachable_database_is_named() -> None:
    gone = Database(f"postgresql+asyncpg://vrp:vrp@127.0.0.1:{free_port()}/vrp", pre_ping=False)
    try:
        problems = await readiness(gone, [worker("vrp-router", True, 0.1)])()
    finally:
        await gone.dispose()
    assert set(problems) == {"database"} and problems["database"].startswith("unreachable")


async def answers(ready: Readiness) -> dict[str, Any]:
    """What /health and /ready answer on a served metrics port."""
    port, stopping = free_port(), asyncio.Event()
    task = asyncio.create_task(serve(Metrics("vrp-test"), "127.0.0.1", port, stopping, ready))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(100):
                try:
                    health = await client.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            r = await client.get("/ready")
            return {"health": health.json(), "status": r.status_code, "ready": r.json()}
    finally:
        stopping.set()
        await task


async def test_the_port_answers_health_and_ready() -> None:
    async def fine() -> dict[str, str]:
        return {}

    async def stalled() -> dict[str, str]:
        return {"vrp-router": "no progress for 42 s"}

    ok = await answers(fine)
    assert ok == {"health": {"status": "ok"}, "status": 200, "ready": {"status": "ready"}}
    not_ready = await answers(stalled)
    assert not_ready["status"] == 503
    assert not_ready["ready"] == {
        "status": "not ready",
        "problems": {"vrp-router": "no progress for 42 s"},
    }
