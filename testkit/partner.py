"""What a partner system does over HTTP, shared by every flow test (embedded, PostgreSQL,
three processes on Kafka): submit a referral, then poll its status or a receiver's inbox,
respond to it as the receiver, and check problem+json answers.

Polling sleeps with asyncio, so a runtime served by the test's own event loop keeps
running while a test waits for it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

import httpx

from testkit.referrals import example


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an API key or access token."""
    return {"Authorization": f"Bearer {token}"}


async def post_referral(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    key: str | None = None,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST /v1/referrals to the client's base_url (the README example unless `body`),
    whatever the answer. `key` is the Idempotency-Key (a fresh one when omitted)."""
    return await client.post(
        "/v1/referrals",
        json=example() if body is None else body,
        headers={**auth, "Idempotency-Key": key or f"test-{uuid.uuid4().hex}"},
    )


async def submit(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    key: str | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """post_referral that must be accepted: asserts the 202, returns its JSON (id,
    reference, status_url)."""
    r = await post_referral(client, auth, key, body)
    assert r.status_code == 202, r.text
    accepted: dict[str, Any] = r.json()
    return accepted


def team_alerted(status: dict[str, Any]) -> bool:
    """Whether the timeline records the receiving team's alert (not only the referrer's
    own status update, which may be sent first)."""
    return any(
        e["type"] == "alert-sent" and e["detail"].get("kind") == "new-referral"
        for e in status["timeline"]
    )


def timeline_types(status: dict[str, Any]) -> set[str]:
    """The event types in a status answer's timeline (received, routed, alert-sent, ...)."""
    return {e["type"] for e in status["timeline"]}


async def wait_status(
    client: httpx.AsyncClient,
    url: str,
    auth: dict[str, str],
    events: Collection[str] = (),
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 5.0,
    interval: float = 0.02,
) -> dict[str, Any]:
    """Poll a referral's status URL until its timeline holds all `events` (and `until(status)`
    when given). Returns the last status either way: the caller asserts on it, so a timeout
    fails with what the status actually was."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(url, headers=auth)
        assert r.status_code == 200, r.text
        status: dict[str, Any] = r.json()
        done = set(events) <= timeline_types(status) and (until is None or until(status))
        if done or time.monotonic() > deadline:
            return status
        await asyncio.sleep(interval)


async def inbox_entry(
    client: httpx.AsyncClient,
    referral_id: str,
    auth: dict[str, str],
    *,
    timeout: float = 5.0,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Poll GET /v1/inbox/{id} as the receiver (`auth`) while it is 404; the inbox entry
    (status, reference, referral) once it is 200. Fails after `timeout`, with `explain()`
    (e.g. a service's log) when given."""
    deadline = time.monotonic() + timeout
    while (r := await client.get(f"/v1/inbox/{referral_id}", headers=auth)).status_code == 404:
        assert time.monotonic() < deadline, (
            explain() if explain else f"{referral_id} never reached the receiver's inbox"
        )
        await asyncio.sleep(interval)
    assert r.status_code == 200, r.text
    entry: dict[str, Any] = r.json()["items"][0]
    return entry


async def submit_until_accepted(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    key: str,
    *,
    give_up_after: float = 60.0,
    interval: float = 0.1,
) -> dict[str, Any]:
    """Submit as a real partner system does while the service restarts: retry refused or
    broken connections, 503s and 409s (the first request with the key still in flight)
    with the same Idempotency-Key until the 202 (or a replay of it). Any other answer
    fails at once."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            r = await post_referral(client, auth, key)
        except httpx.TransportError:
            pass
        else:
            if r.status_code == 202:
                accepted: dict[str, Any] = r.json()
                return accepted
            assert r.status_code in (409, 503), r.text
        assert time.monotonic() < deadline, f"{key} was never accepted"
        await asyncio.sleep(interval)


async def respond(
    client: httpx.AsyncClient, auth: dict[str, str], referral_id: str, **body: Any
) -> httpx.Response:
    """POST /v1/referrals/{id}/response as the receiver (`auth`), whatever the answer."""
    return await client.post(f"/v1/referrals/{referral_id}/response", json=body, headers=auth)


def assert_problem(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with `status` (naming `field` when given);
    returns the problem."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = r.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem
