"""`vrp users ...` as an administrator uses it, checked by signing in to a running console."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.demo import DEMO_ACCOUNTS
from testkit.console import DEMO_PASSWORD, sign_in
from testkit.partnerships import SEVERNSIDE
from testkit.runtime import Served, runtime_settings, serving
from vrp.store import accounts, audit
from vrp.store.tables import audit_log
from vrp.store.unit import reading


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Served]:
    """A running system on a SQLite file the commands also use (no demo accounts)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    settings = runtime_settings(url, mail_dir=tmp_path, demo_partners=False)
    async with serving(settings) as served:
        yield served


async def users(system: Served, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `vrp users ARGS` against the system's database (in a thread: the system runs on
    this event loop and must keep going, or SQLite's lock would stall the command)."""
    env = os.environ | {"VRP_DATABASE_URL": system.runtime.settings.database_url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def can_sign_in(system: Served, username: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
        return (await sign_in(browser, username, password)).status_code == 303


async def test_an_administrator_manages_an_account_from_creation_to_reset(
    system: Served,
) -> None:
    add = await users(
        system,
        "add",
        "Pat.Smith",
        "--org",
        "navigators",
        "--role",
        "team-member",
        "--name",
        "Pat Smith",
    )
    assert add.returncode == 0, add.stderr
    password = re.search(r"password \(shown once\): (\S+)", add.stdout)
    assert password, add.stdout
    assert await can_sign_in(system, "pat.smith", password.group(1))  # case-insensitive name
    taken = await users(
        system, "add", "pat.smith", "--org", "navigators", "--role", "team-lead", "--name", "O"
    )
    assert taken.returncode == 1 and "taken" in taken.stderr

    assert (await users(system, "disable", "pat.smith")).returncode == 0
    assert not await can_sign_in(system, "pat.smith", password.group(1))
    assert "disabled" in (await users(system, "list")).stdout
    assert (await users(system, "enable", "pat.smith")).returncode == 0
    assert await can_sign_in(system, "pat.smith", password.group(1))

    short = await users(system, "reset", "pat.smith", "--password-stdin", stdin="too short\n")
    assert short.returncode == 2 and "at least 12" in short.stderr
    reset = await users(
        system, "reset", "pat.smith", "--password-stdin", stdin="a much longer passphrase\n"
    )
    assert reset.returncode == 0 and "shown once" not in reset.stdout
    assert not await can_sign_in(system, "pat.smith", password.group(1))
    assert await can_sign_in(system, "pat.smith", "a much longer passphrase")

    await audit.seal_all(system.runtime.db)  # the CLI's records, chained
    async with system.runtime.db.engine.connect() as conn:
        actions = [
            r.detail["action"]
            for r in await conn.execute(select(audit_log).where(audit_log.c.kind == "credential"))
            if r.detail.get("account") == "pat.smith"
        ]
    assert actions == ["add", "disable", "enable", "reset"]


async def test_accounts_belong_to_organisations_in_the_configuration(system: Served) -> None:
    unknown = await users(
        system, "add", "x.y", "--org", "no-such-org", "--role", "team-member", "--name", "X"
    )
    assert unknown.returncode == 2 and "not in the configuration" in unknown.stderr
    hub = await users(
        system, "add", "x.y", "--org", "navigators", "--role", "hub-coordinator", "--name", "X"
    )
    assert hub.returncode == 2 and "hub organisation" in hub.stderr
    assert (await users(system, "reset", "nobody")).returncode == 1


async def test_demo_accounts_exist_only_with_the_demo_configuration(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    demo = runtime_settings(url, mail_dir=tmp_path)
    async with serving(demo) as served:
        assert await can_sign_in(served, "hub.coordinator", DEMO_PASSWORD)
    # The same database under a partnership's own configuration: the published accounts
    # are disabled, so they can never act for that partnership's organisations.
    own = runtime_settings(url, mail_dir=tmp_path, config_dir=SEVERNSIDE)
    async with serving(own) as served:
        for username, *_ in DEMO_ACCOUNTS:
            assert not await can_sign_in(served, username, DEMO_PASSWORD)
    fresh = runtime_settings(
        f"sqlite+aiosqlite:///{tmp_path}/own.db", mail_dir=tmp_path, config_dir=SEVERNSIDE
    )
    async with serving(fresh) as served, reading(served.runtime.db) as unit:
        assert await accounts.people(unit) == []
