"""A sign-in flood from a process of its own (as an attacker's would be): N console
sign-ins at once from one address, mostly guesses. `python -m testkit.flood URL COOKIE
TOKEN N` prints one JSON line: each answer's status, Retry-After and (for a 5xx) body."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from testkit.console import DEMO_PASSWORD

RIGHT_EVERY = 10
"""Every tenth sign-in has the right password; the rest guess."""
NAMES = ("navigators.member", "navigators.lead", "hub.coordinator", "ig.lead", "no.such.person")


async def flood(base_url: str, cookie: str, token: str, count: int) -> list[dict[str, Any]]:
    """`count` sign-ins at once with the sign-in form's cookie and token; their answers."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        client.cookies.set("vrp_signin", cookie, path="/console")

        async def one(i: int) -> dict[str, Any]:
            right = i % RIGHT_EVERY == 0
            form = {
                "username": "navigators.member" if right else NAMES[i % len(NAMES)],
                "password": DEMO_PASSWORD if right else f"guess number {i}",
                "csrf_token": token,
            }
            r = await client.post("/console/sign-in", data=form)
            return {
                "status": r.status_code,
                "retry_after": r.headers.get("retry-after"),
                "body": r.text[:500] if r.status_code >= 500 else None,
            }

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def run(base_url: str, cookie: str, token: str, count: int) -> list[dict[str, Any]]:
    """Run the flood in a separate process; its answers."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testkit.flood",
        base_url,
        cookie,
        token,
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, f"the flood process exited with {process.returncode}"
    answers: list[dict[str, Any]] = json.loads(out)
    return answers


if __name__ == "__main__":
    url, cookie_value, form_token, n = sys.argv[1:5]
    print(json.dumps(asyncio.run(flood(url, cookie_value, form_token, int(n)))))
