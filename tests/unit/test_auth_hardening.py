"""Authentication under attack, through real HTTP: hostile client assertions, guessing at API
keys and OAuth clients (locked out with backoff), duplicated credentials, key rotation that
must never widen scopes, and registering keys that are not public keys."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.demo import demo_key
from services.intake.api.app import create_app
from services.intake.auth import keys
from testkit.oauth import Server, assertion, jwks_of, register, rsa_key, token_request
from testkit.partner import assert_problem, bearer
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.tables import api_keys
from vrp.store.unit import unit_of_work

PER_KEY = 5
PER_ADDRESS = 12


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Its own intake for each test: lockouts are per process and per address."""
    settings = runtime_settings(
        sqlite_url(tmp_path),
        mail_dir=tmp_path / "mail",
        auth_failures_per_key=PER_KEY,
        auth_failures_per_address=PER_ADDRESS,
        auth_backoff_seconds=1.0,
    )
    async with serving(settings, ("intake",)) as served:
        yield Server(served.runtime, served.client, f"{settings.public_url}/oauth2/token")


async def healthy(server: Server) -> None:
    assert (await server.client.get("/health")).status_code == 200


def unauthorised(r: httpx.Response, error: str = "invalid_client") -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == error


async def test_an_assertion_expiring_after_year_9999_is_refused_not_a_500(server: Server) -> None:
    key = rsa_key()
    client_id = await register(server, "uhb", key)
    for exp in (253402300800, 10**20, 1e300):
        r = await token_request(server, assertion(key, client_id, server.token_url, exp=exp))
        unauthorised(r)
        assert "5 minutes" in r.json()["detail"]
        # The connection is kept: a 500 used to make the server drop it.
        assert r.headers.get("connection") != "close"
    await healthy(server)


async def test_exp_must_be_a_number_and_jti_a_whole_non_empty_string(server: Server) -> None:
    key = rsa_key()
    client_id = await register(server, "uhb", key)

    async def token(**claims: object) -> httpx.Response:
        return await token_request(server, assertion(key, client_id, server.token_url, **claims))

    numeric_string = str(int(time.time()) + 60)
    unauthorised(await token(exp=numeric_string))
    unauthorised(await token(jti=""))
    unauthorised(await token(jti="   "))
    unauthorised(await token(jti=7))
    unauthorised(await token(jti="x" * 201))
    # (Another client: this one has now failed often enough to be locked out.)
    key = rsa_key()
    client_id = await register(server, "uhb", key)
    # Two jtis equal in their first 200 characters are two different assertions.
    stem = "j" * 199
    assert (await token(jti=stem + "a")).status_code == 200
    assert (await token(jti=stem + "b")).status_code == 200
    unauthorised(await token(jti=stem + "a"))  # and each is still single-use
    await healthy(server)


async def test_an_unexpected_error_does_not_mention_an_idempotency_key(tmp_path: Path) -> None:
    app: FastAPI = create_app(runtime_settings(sqlite_url(tmp_path)))

    async def boom() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        plain = await client.get("/boom")
        keyed = await client.get("/boom", headers={"Idempotency-Key": "k-12345678"})
    assert_problem(plain, 500)
    assert "Idempotency-Key" not in plain.text
    assert "Idempotency-Key" in keyed.json()["detail"]


async def test_guessing_an_api_key_secret_is_locked_out_with_a_doubling_backoff(
    server: Server,
) -> None:
    right = bearer(demo_key("uhb"))
    wrong = bearer(demo_key("uhb") + "x")
    for _ in range(PER_KEY):
        assert_problem(await server.client.get("/v1/inbox", headers=wrong), 401)
    locked = await server.client.get("/v1/inbox", headers=wrong)
    assert_problem(locked, 429)
    assert locked.headers["retry-after"] == "1"
    # While locked out even the right secret is refused (unless recently verified), so a
    # guess that happens to be right is not told apart.
    assert_problem(await server.client.get("/v1/inbox", headers=right), 429)
    await asyncio.sleep(1.1)
    assert (await server.client.get("/v1/referrals/x", headers=right)).status_code == 404
    for _ in range(PER_KEY):
        await server.client.get("/v1/inbox", headers=bearer(demo_key("uhb") + "y"))
    # Now verified and cached: the partner at work is not stopped by the guessing.
    assert (await server.client.get("/v1/referrals/x", headers=right)).status_code == 404
    second = await server.client.get("/v1/inbox", headers=wrong)
    assert_problem(second, 429)
    assert second.headers["retry-after"] == "2", "the second lockout is twice as long"
    # Another organisation's key is not affected by uhb's lockout.
    assert (
        await server.client.get("/v1/referrals/x", headers=bearer(demo_key("wmp")))
    ).status_code == 404
    await healthy(server)


async def test_one_address_trying_many_key_ids_is_locked_out(server: Server) -> None:
    for i in range(PER_ADDRESS):
        r = await server.client.get("/v1/inbox", headers=bearer(f"vrp_guess{i}_secret"))
        assert_problem(r, 401)
    for token in ("vrp_another_secret", "not-even-a-key", "vat_random"):
        assert_problem(await server.client.get("/v1/inbox", headers=bearer(token)), 429)
    await healthy(server)


async def test_bad_client_assertions_are_locked_out_per_client(server: Server) -> None:
    key, impostor = rsa_key(), rsa_key()
    client_id = await register(server, "uhb", key)
    for _ in range(PER_KEY):
        r = await token_request(server, assertion(impostor, client_id, server.token_url))
        unauthorised(r)
    r = await token_request(server, assertion(key, client_id, server.token_url))
    assert r.status_code == 429 and r.headers["retry-after"] == "1", r.text
    await asyncio.sleep(1.1)
    assert (await token_request(server, assertion(key, client_id, server.token_url))).is_success
    await healthy(server)


async def test_two_authorization_headers_are_refused(server: Server) -> None:
    for pair in ((demo_key("uhb"), demo_key("wmp")), (demo_key("uhb"), demo_key("uhb"))):
        headers = [("Authorization", f"Bearer {token}") for token in pair]
        r = await server.client.get("/v1/referrals/x", headers=headers)
        body = assert_problem(r, 400)
        assert body["errors"] == [{"field": "Authorization", "detail": "given more than once"}]
    await healthy(server)


async def test_rotation_keeps_exactly_the_scopes_of_the_key_it_replaces(server: Server) -> None:
    async with unit_of_work(server.runtime.db) as unit:
        reader = await keys.issue(unit, "wmfs", ("referrals:read",))
        await keys.issue(unit, "wmfs", ("referrals:submit",))
        with pytest.raises(keys.RotationRefused):
            await keys.rotate(unit, "wmfs", timedelta(hours=1))  # which scopes? refuse
        new = await keys.rotate(unit, "wmfs", timedelta(hours=1), key_id=reader.split("_")[1])
    scopes = await scopes_of(server, new)
    assert scopes == "referrals:read", "never the union of the organisation's keys"
    async with unit_of_work(server.runtime.db) as unit:
        await keys.revoke(unit, "wmfs")
        with pytest.raises(keys.RotationRefused):
            await keys.rotate(unit, "wmfs", timedelta(hours=1))  # no all-scopes key appears


async def scopes_of(server: Server, key: str) -> str:
    async with server.runtime.db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(api_keys.c.scopes).where(api_keys.c.key_id == key.split("_")[1])
            )
        ).one()
    return str(row.scopes)


def vrp(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_partners_command_refuses_symmetric_keys_and_rotating_revoked_ones(
    tmp_path: Path,
) -> None:
    assert vrp(tmp_path, "db", "upgrade").returncode == 0
    hs256 = {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC13aXRoLXVz", "alg": "HS256"}]}
    private = {"keys": [{**jwks_of(rsa_key(), "k")["keys"][0], "d": "AQAB"}]}
    documents: list[object] = [hs256, private, {"keys": []}, [1, 2], {"keys": "x"}, "not json"]
    for document in documents:
        path = tmp_path / f"{uuid.uuid4().hex}.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        added = vrp(tmp_path, "partners", "add", "uhb", "--jwks-file", str(path))
        assert added.returncode == 2 and added.stdout == ""
        assert "Traceback" not in added.stderr and added.stderr.count("\n") == 1, added.stderr
        if document in (hs256, private):
            assert "only public keys" in added.stderr
    assert vrp(tmp_path, "partners", "add", "uhb", "--scopes", "referrals:read").returncode == 0
    assert vrp(tmp_path, "partners", "revoke", "uhb").returncode == 0
    rotated = vrp(tmp_path, "partners", "rotate", "uhb")
    assert rotated.returncode == 2 and rotated.stdout == ""
    assert "no live key" in rotated.stderr and "Traceback" not in rotated.stderr
