"""No busy loop while the broker is away: each service's CPU during a two-minute broker stop,
three outages in a row on the same processes, stays under a ceiling; afterwards the
referrals posted during the outages are all decided.

Slow (about eight minutes): `deploy/test.sh --slow -k outage_cpu`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field

import httpx
import pytest

from testkit.production import Broker, Load, Production, check_history

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
]

OUTAGE = 120.0
WINDOW = 10.0
CEILING = 0.10
"""Mean share of one core a service may use while the broker is away (idle is ~1-3 %)."""
WINDOW_CEILING = 0.35
"""Share of one core in any 10-second window (a reconnect storm holds 70-90 %)."""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Sampler:
    """Each service's share of a core per window, over one outage."""

    pids: dict[str, int]
    windows: dict[str, list[float]] = field(default_factory=dict)

    async def run(self, seconds: float) -> None:
        """Sample every WINDOW seconds for `seconds`."""
        last = {role: cpu_seconds(pid) for role, pid in self.pids.items()}
        at = time.monotonic()
        end = at + seconds
        while (now := time.monotonic()) < end:
            await asyncio.sleep(min(WINDOW, end - now))
            taken = {role: cpu_seconds(pid) for role, pid in self.pids.items()}
            elapsed = time.monotonic() - at
            for role, used in taken.items():
                self.windows.setdefault(role, []).append((used - last[role]) / elapsed)
            last, at = taken, time.monotonic()

    def figures(self) -> dict[str, dict[str, float]]:
        """Mean and highest window per service, as shares of one core."""
        return {
            role: {"mean": round(sum(w) / len(w), 3), "max_window": round(max(w), 3)}
            for role, w in self.windows.items()
        }


async def post_during(run: Production, count: int, prefix: str) -> Load:
    """Referrals posted at 20 a second, so that events are in flight on every consumer and
    producer when the broker goes (intake accepts them durably while it is away)."""
    load = Load(run)
    await load.run_at(20.0, count, prefix)
    return load


async def test_three_two_minute_outages_hold_no_core(
    on_own_broker: Production, own_broker: Broker
) -> None:
    run = on_own_broker
    pids = {role: proc.pid for role, proc in run.cluster.procs.items()}
    runs = []
    loads: list[Load] = []
    for n in range(3):
        posting = asyncio.create_task(post_during(run, 100, f"outage{n}"))
        await asyncio.sleep(2)
        await asyncio.to_thread(own_broker.stop)
        sampler = Sampler(pids)
        await sampler.run(OUTAGE)
        loads.append(await posting)
        await asyncio.to_thread(own_broker.start)
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 120
            while (await client.get(f"{run.cluster.intake_url}/ready")).status_code != 200:
                assert time.monotonic() < deadline, run.cluster.tail("intake")
                await asyncio.sleep(1)
        runs.append(sampler.figures())
        print(f"\noutage {n + 1}: {json.dumps(runs[-1])}", flush=True)
    print("\nCPU share of one core during each 2-minute broker stop:", json.dumps(runs))
    for figures in runs:
        for role, f in figures.items():
            assert f["mean"] < CEILING, (role, runs, run.cluster.tail(role))
            assert f["max_window"] < WINDOW_CEILING, (role, runs, run.cluster.tail(role))
    for load in loads:  # and nothing posted during the outages was lost
        await check_history(run, load, timeout=180)
    for role in pids:  # no metadata refresh left pending when its client was dropped
        assert "coro=<SpacedRefresh" not in run.cluster.log(role), role
