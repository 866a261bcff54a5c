"""While the broker is away, a loop that keeps asking the Kafka client for metadata (as
aiokafka's fetcher and sender do when a partition has no leader) makes a few refreshes a
second at most, not thousands; once a refresh succeeds the next one is immediate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from vrp.transport.metadata import CAP, SpacedRefresh, space_metadata_refreshes


class Client:
    """A client whose refreshes answer at once, as they do with the broker down on loopback
    (connection refused); `up` makes them succeed."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.up = False
        # An attribute, as the wrapper replaces it on the instance (aiokafka's is a method).
        self.force_metadata_update: Callable[[], asyncio.Future[Any]] = self._refresh

    def _refresh(self) -> asyncio.Future[Any]:
        self.refreshes += 1
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(self.up)
        return done


async def spin(client: Client, seconds: float) -> int:
    """Ask for metadata in a loop for `seconds`, as the fetcher does; the refreshes made."""
    before = client.refreshes
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await client.force_metadata_update()
    return client.refreshes - before


async def test_failing_refreshes_are_spaced_out() -> None:
    unspaced = Client()
    loop_turns = await spin_for_a_moment(unspaced)
    spaced = Client()
    space_metadata_refreshes(spaced)
    made = await spin(spaced, 3.0)
    # 0.1, 0.2, 0.4, 0.8, 1.6 s... (each at least half of that, jittered), then CAP each.
    assert 3 <= made <= 12, made
    assert loop_turns > 1000  # the unspaced loop: what a broker outage looked like


async def spin_for_a_moment(client: Client) -> int:
    return await spin(client, 0.2)


async def test_a_success_makes_the_next_refresh_immediate() -> None:
    client = Client()
    space_metadata_refreshes(client)
    await spin(client, 1.0)  # failing: the delay has grown
    client.up = True
    await client.force_metadata_update()  # waits out the current delay (at most CAP)
    started = time.monotonic()
    for _ in range(50):
        assert await client.force_metadata_update() is True
    assert time.monotonic() - started < CAP / 4


async def test_callers_share_one_waiting_refresh() -> None:
    client = Client()
    refresh = SpacedRefresh(client.force_metadata_update)
    await refresh()  # fails: the next one waits
    waiting = [refresh() for _ in range(20)]
    await asyncio.gather(*waiting)
    assert client.refreshes == 2
    # A caller that stops waiting (cancelled) leaves the others' refresh running.
    first, second = refresh(), refresh()
    first.cancel()
    assert await second is False
