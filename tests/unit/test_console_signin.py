"""Console sign-in under pressure and on the record: concurrent guesses are limited before
any password is hashed, and every sign-in, failure, lockout and sign-out leaves one log
line and one audit record that `vrp audit list` shows, without passwords or typed names."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.cli import main
from services.intake.api.hashing import Busy, PasswordChecks
from testkit.console import DEMO_PASSWORD, csrf_of, sign_in, signed_in
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.logs import JsonFormatter
from vrp.store import accounts
from vrp.store.unit import reading

GUESS = "Tr0ub4dor&3 guess"
TYPED = "someone.mistyped"


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Served]:
    """The embedded system with the demo accounts and a per-address limit of 5 failures
    (locking out for 30 s, so that a slow machine still sees the lockout)."""
    settings = runtime_settings(
        sqlite_url(tmp_path),
        mail_dir=tmp_path,
        auth_failures_per_address=5,
        auth_backoff_seconds=30,
    )
    async with serving(settings) as served:
        yield served


async def _at_once(system: Served, forms: list[dict[str, str]]) -> list[httpx.Response]:
    """Post these sign-in forms at the same time, with one form's cookie and token."""
    limits = httpx.Limits(max_connections=len(forms))
    async with httpx.AsyncClient(
        base_url=system.client.base_url, timeout=60, limits=limits
    ) as browser:
        token = csrf_of((await browser.get("/console/sign-in")).text)
        return list(
            await asyncio.gather(
                *(browser.post("/console/sign-in", data=f | {"csrf_token": token}) for f in forms)
            )
        )


async def test_concurrent_guesses_from_one_address_are_held_to_its_limit(system: Served) -> None:
    forms = [{"username": "ig.lead", "password": f"{GUESS} {i}"} for i in range(3)] + [
        {"username": f"nobody.{i}", "password": GUESS} for i in range(27)
    ]
    answers = await _at_once(system, forms)
    statuses = Counter(r.status_code for r in answers)
    # Exactly the limit was checked; every other attempt was refused before any hashing.
    assert statuses == Counter({401: 5, 429: 25}), statuses
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)
    # And the address stays locked out afterwards, even for the right password.
    async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
        assert (await sign_in(browser, "hub.coordinator")).status_code == 429


async def test_concurrent_guesses_at_one_account_stop_at_its_lockout(tmp_path: Path) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path)
    async with serving(settings) as system:
        forms = [{"username": "navigators.lead", "password": f"{GUESS} {i}"} for i in range(20)]
        answers = await _at_once(system, forms)
        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {401, 429} and statuses[429] >= 1, statuses
        async with reading(system.runtime.db) as unit:
            row = await accounts.find(unit, "navigators.lead")
        assert row is not None and row.failed_logins == statuses[401]
        assert row.locked_until is not None  # the fifth failure locked it
        async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
            assert (await sign_in(browser, "navigators.lead")).status_code == 401


def test_a_full_queue_of_password_checks_refuses_at_once() -> None:
    checks = PasswordChecks(workers=1, waiting=1)
    with checks.admission(), checks.admission(), pytest.raises(Busy), checks.admission():
        pass
    with checks.admission():  # places are given back
        assert checks.admitted == 1


def _vrp(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


async def test_access_is_logged_and_audited_without_passwords_or_typed_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path)
    caplog.set_level(logging.INFO, logger="services.intake.console")
    async with serving(settings) as system:
        async with reading(system.runtime.db) as unit:
            lead = await accounts.find(unit, "navigators.lead")
            member = await accounts.find(unit, "navigators.member")
        assert lead is not None and member is not None
        async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
            assert (await sign_in(browser, TYPED, GUESS)).status_code == 401
            for _ in range(5):
                assert (await sign_in(browser, "navigators.lead", GUESS)).status_code == 401
            await signed_in(browser, "navigators.member")
            inbox = await browser.get("/console/inbox")
            await browser.post("/console/sign-out", data={"csrf_token": csrf_of(inbox.text)})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    events = [
        line["message"].removeprefix("console access ")
        for line in lines
        if line["logger"] == "services.intake.console.access"
    ]
    failed = f"event=console.sign-in-failed account={lead.id} reason=wrong-password"
    assert events == [
        "event=console.sign-in-failed account=unknown reason=unknown-account",
        *[failed] * 5,
        f"event=console.lockout account={lead.id} reason=failed-sign-ins",
        f"event=console.sign-in account={member.id}",
        f"event=console.sign-out account={member.id}",
    ]
    everything = caplog.text + json.dumps(lines)
    assert GUESS not in everything and DEMO_PASSWORD not in everything
    assert TYPED not in everything

    monkeypatch.setenv("VRP_DATABASE_URL", sqlite_url(tmp_path))
    code, listed = await asyncio.to_thread(_vrp, "audit", "list", "--access")
    assert code == 0, listed
    rows = listed.strip().splitlines()
    assert [" ".join(row.split()[4:]) for row in rows] == [
        "sign-in-failed (unknown-account) account unknown by console",
        *[f"sign-in-failed (wrong-password) account {lead.id} by console"] * 5,
        f"lockout (failed-sign-ins) account {lead.id} by console",
        f"sign-in account {member.id} by org:navigators/user:navigators.member",
        f"sign-out account {member.id} by org:navigators/user:navigators.member",
    ]
    assert GUESS not in listed and TYPED not in listed
    code, only = await asyncio.to_thread(_vrp, "audit", "list", "--kind", "lockout")
    assert code == 0 and len(only.strip().splitlines()) == 1 and "lockout" in only
    code, verified = await asyncio.to_thread(_vrp, "audit", "verify")
    assert code == 0, verified
