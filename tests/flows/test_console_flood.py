"""A sign-in flood against the console over real HTTP while a partner keeps submitting:
no 5xx, the limiter answers 429 before any password is hashed, the partner API keeps
answering, and the process is still there afterwards."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

import testkit.flood
from services.demo import demo_key
from testkit.console import csrf_of
from testkit.infrastructure import reachable_postgres, reset_postgres
from testkit.partner import bearer, post_referral
from testkit.runtime import runtime_settings, serving

UHB = bearer(demo_key("uhb"))
FLOOD = 200
CEILING = 5.0
"""A generous bound on the partner's p99 during the flood: this checks behaviour (the
partner is not starved), it is not a benchmark."""


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_sign_in_flood_is_limited_and_the_partner_api_keeps_answering(
    store: str, tmp_path: Path
) -> None:
    if store == "postgres":
        url = await reachable_postgres()
        await reset_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    # The production limits on failed sign-ins (runtime_settings raises them for tests).
    settings = runtime_settings(url, mail_dir=tmp_path, auth_failures_per_address=50)
    async with serving(settings, timeout=30) as system:
        page = await system.client.get("/console/sign-in")
        cookie, token = page.cookies["vrp_signin"], csrf_of(page.text)
        flood = asyncio.ensure_future(
            testkit.flood.run(str(system.client.base_url), cookie, token, FLOOD)
        )
        latencies: list[float] = []
        partner: Counter[int] = Counter()
        while not flood.done() or len(latencies) < 5:
            started = time.perf_counter()
            r = await post_referral(system.client, UHB)
            latencies.append(time.perf_counter() - started)
            partner[r.status_code] += 1
        answers = await flood
        statuses = Counter(int(a["status"]) for a in answers)
        p50, p99 = statistics.median(latencies), _percentile(latencies, 99)
        print(
            f"\n[{store}] {FLOOD} sign-ins: {dict(sorted(statuses.items()))}; partner POSTs "
            f"during the flood: {len(latencies)} {dict(partner)}, p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )
        assert not [a for a in answers if a["status"] >= 500], [a["body"] for a in answers]
        assert set(statuses) <= {303, 401, 429}, statuses
        # At most the address's limit of attempts was ever checked; the rest were refused.
        assert statuses[303] + statuses[401] <= 50, statuses
        assert statuses[429] >= FLOOD - 50, statuses
        refused = [a for a in answers if a["status"] == 429]
        assert all(int(a["retry_after"]) >= 1 for a in refused)
        assert partner == Counter({202: len(latencies)}), partner
        assert p99 < CEILING, f"partner p99 {p99:.2f} s during the flood"
        # Still up and answering both the partner and people.
        assert (await post_referral(system.client, UHB)).status_code == 202
        assert (await system.client.get("/console/sign-in")).status_code == 200
        assert (await system.client.get("/health")).status_code == 200
