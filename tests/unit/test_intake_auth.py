"""Partner authentication through real HTTP: API keys (rotate, revoke) and OAuth 2.0 client
credentials with a private_key_jwt client assertion (RFC 7523)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update

from services.intake.auth import keys, oauth
from testkit.oauth import Server, assertion, jwks_of, register, rsa_key, token_request
from testkit.partner import bearer, post_referral
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.tables import access_tokens
from vrp.store.unit import unit_of_work


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("auth")
    settings = runtime_settings(
        sqlite_url(tmp),
        mail_dir=tmp / "mail",
        demo_partners=False,
        auth_cache_seconds=0,  # revocations must show at once in these tests
    )
    async with serving(settings, ("intake",)) as served:
        yield Server(served.runtime, served.client, f"{settings.public_url}/oauth2/token")


def refused(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["error"] == error
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("make_key", [rsa_key, lambda: ec.generate_private_key(ec.SECP256R1())])
async def test_signed_assertion_gets_a_token_that_acts_as_the_organisation(
    server: Server, make_key: Any
) -> None:
    key = make_key()
    client_id = await register(server, "uhb", key)
    r = await token_request(server, assertion(key, client_id, server.token_url))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = r.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 300
    auth = bearer(token["access_token"])
    submitted = await post_referral(server.client, auth)
    assert submitted.status_code == 202
    status = await server.client.get(submitted.json()["status_url"], headers=auth)
    assert status.status_code == 200


async def test_assertions_are_checked_and_single_use(server: Server) -> None:
    key = rsa_key()
    client_id = await register(server, "rwt", key)
    url = server.token_url
    good = assertion(key, client_id, url)
    assert (await token_request(server, good)).status_code == 200
    refused(await token_request(server, good), 401, "invalid_client")  # replayed jti
    refused(
        await token_request(server, assertion(key, client_id, "https://x/")), 401, "invalid_client"
    )
    far = int(time.time()) + 600
    refused(
        await token_request(server, assertion(key, client_id, url, exp=far)), 401, "invalid_client"
    )
    past = int(time.time()) - 120
    refused(
        await token_request(server, assertion(key, client_id, url, exp=past)), 401, "invalid_client"
    )
    refused(
        await token_request(server, assertion(key, client_id, url, sub="x")), 401, "invalid_client"
    )
    refused(
        await token_request(server, assertion(rsa_key(), client_id, url)), 401, "invalid_client"
    )
    refused(await token_request(server, assertion(key, "nobody", url)), 401, "invalid_client")
    refused(await token_request(server, "not-a-jwt"), 401, "invalid_client")
    refused(
        await token_request(server, assertion(key, client_id, url), grant_type="password"),
        400,
        "unsupported_grant_type",
    )
    refused(
        await token_request(server, assertion(key, client_id, url), client_assertion_type="x"),
        400,
        "invalid_request",
    )
    refused(
        await token_request(server, assertion(key, client_id, url), scope="admin"),
        400,
        "invalid_scope",
    )


async def test_scoped_and_expired_tokens(server: Server) -> None:
    key = rsa_key()
    client_id = await register(server, "uhcw", key)
    r = await token_request(
        server, assertion(key, client_id, server.token_url), scope="referrals:read"
    )
    assert r.json()["scope"] == "referrals:read"
    auth = bearer(r.json()["access_token"])
    denied = await post_referral(server.client, auth, "scoped-0001")
    assert denied.status_code == 403
    async with server.runtime.db.transaction() as conn:
        await conn.execute(
            update(access_tokens).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await server.client.get("/v1/inbox", headers=auth)).status_code == 401


async def test_revoking_clients_ends_their_tokens(server: Server) -> None:
    key = rsa_key()
    client_id = await register(server, "wm-probation", key)
    r = await token_request(server, assertion(key, client_id, server.token_url))
    auth = bearer(r.json()["access_token"])
    assert (await server.client.get("/v1/inbox", headers=auth)).status_code == 200
    async with unit_of_work(server.runtime.db) as unit:
        assert await oauth.revoke_clients(unit, "wm-probation") == 1
    assert (await server.client.get("/v1/inbox", headers=auth)).status_code == 401
    refused(
        await token_request(server, assertion(key, client_id, server.token_url)),
        401,
        "invalid_client",
    )


async def test_api_key_rotation_keeps_the_old_key_for_the_grace_period(server: Server) -> None:
    async with unit_of_work(server.runtime.db) as unit:
        old = await keys.issue(unit, "wmfs", ("referrals:read",))
        new = await keys.rotate(unit, "wmfs", timedelta(hours=1))
    for k in (old, new):
        r = await server.client.get("/v1/referrals/x", headers=bearer(k))
        assert r.status_code == 404, "authenticated (and 404, not someone else's)"
    r = await server.client.get("/v1/inbox", headers=bearer(new))
    assert r.status_code == 403, "the new key has the old key's scopes"
    async with unit_of_work(server.runtime.db) as unit:
        assert await keys.revoke(unit, "wmfs", key_id=old.split("_")[1]) == 1
    r = await server.client.get("/v1/referrals/x", headers=bearer(old))
    assert r.status_code == 401
    async with unit_of_work(server.runtime.db) as unit:
        await keys.rotate(unit, "wmfs", timedelta(0))
    r = await server.client.get("/v1/referrals/x", headers=bearer(new))
    assert r.status_code == 401, "rotation with no grace ends the old key at once"


def test_partners_command_adds_rotates_revokes_and_lists(tmp_path: Path) -> None:
    env = {**os.environ, "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db"}

    def vrp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert vrp("db", "upgrade").returncode == 0
    added = vrp("partners", "add", "uhb", "--scopes", "referrals:submit,referrals:read")
    assert added.returncode == 0 and added.stdout.startswith("vrp_")
    assert "shown once" in added.stderr
    assert vrp("partners", "add", "nobody").returncode == 2
    assert vrp("partners", "add", "uhb", "--scopes", "admin").returncode == 2
    rotated = vrp("partners", "rotate", "uhb", "--grace-hours", "2")
    assert rotated.returncode == 0 and rotated.stdout != added.stdout
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwks_of(rsa_key(), "k1")))
    client = vrp("partners", "add", "uhb", "--jwks-file", str(jwks))
    assert client.returncode == 0 and client.stdout.startswith("uhb-"), client.stderr
    listing = vrp("partners", "list").stdout
    listed = [json.loads(line) for line in listing.splitlines()]
    assert len(listed) == 3
    assert {x["state"].split()[0] for x in listed} == {"active", "expires"}
    assert all("secret" not in json.dumps(x) for x in listed)
    # A key is vrp_<key id>_<secret>: the list names each key by its id, never its secret.
    issued = [added.stdout.splitlines()[0], rotated.stdout.splitlines()[0]]
    key_ids, secrets = zip(*(k.removeprefix("vrp_").split("_", 1) for k in issued), strict=True)
    assert {x.get("key_id") for x in listed} >= set(key_ids)
    for secret in secrets:
        assert len(secret) >= 16 and secret not in listing
    revoked = vrp("partners", "revoke", "uhb")
    assert "2 key(s) and 1 OAuth client(s) revoked" in revoked.stdout
    listed = [json.loads(line) for line in vrp("partners", "list", "uhb").stdout.splitlines()]
    assert {x["state"] for x in listed} == {"revoked"}


def test_auth_cache_forgets_after_its_ttl_and_at_token_expiry() -> None:
    now = [1000.0]
    cache = keys.AuthCache(seconds=5, clock=lambda: now[0])
    partner = keys.Partner("uhb", "k", frozenset({"referrals:read"}))
    cache.put("vrp_k_secret", partner)
    assert cache.get("vrp_k_secret") == partner
    assert cache.get("vrp_k_other") is None
    now[0] += 4.9
    assert cache.get("vrp_k_secret") == partner  # still within its 5 s
    now[0] += 0.1
    assert cache.get("vrp_k_secret") is None  # revocation reaches this replica by now
    expired = keys.Partner("uhb", "oauth:c", frozenset(), datetime.now(UTC) - timedelta(seconds=1))
    cache.put("vat_x", expired)
    assert cache.get("vat_x") is None
    off = keys.AuthCache(seconds=0)
    off.put("vrp_k_secret", partner)
    assert off.get("vrp_k_secret") is None
