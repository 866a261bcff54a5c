"""A person using the console over HTTP: sign in (with the form's CSRF token), read forms."""

from __future__ import annotations

import re

import httpx

DEMO_PASSWORD = "demo-only-not-a-secret"  # the published demo accounts' password
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = _HIDDEN.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD, next: str = ""
) -> httpx.Response:
    """Fill in and send the sign-in form as a browser would (cookies kept by the client);
    returns the answer without following the redirect."""
    page = await client.get("/console/sign-in")
    assert page.status_code == 200
    form = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    if next:
        form["next"] = next
    return await client.post("/console/sign-in", data=form)


async def signed_in(client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in, which must succeed; returns where the console sent the person."""
    r = await sign_in(client, username, password)
    assert r.status_code == 303, r.text
    return r.headers["location"]
