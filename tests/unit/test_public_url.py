"""Links follow the port the process serves on: with VRP_PORT set and no VRP_PUBLIC_URL,
the banner, status URLs and alert links all name that port, not 8000."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import sys
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from services.demo import demo_key
from testkit.partner import bearer, submit
from testkit.ports import free_port
from vrp.settings import Settings


def test_the_default_public_url_is_the_served_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VRP_PUBLIC_URL", raising=False)
    monkeypatch.setenv("VRP_PORT", "8123")
    assert Settings().public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("VRP_HOST", "0.0.0.0")  # every address: loopback reaches it
    assert Settings().public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("VRP_HOST", "::1")
    assert Settings().public_url == "http://[::1]:8123"
    monkeypatch.setenv("VRP_PUBLIC_URL", "https://referrals.example")
    assert Settings().public_url == "https://referrals.example"  # given: used as it is


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen"
        await asyncio.sleep(0.2)


async def test_vrp_up_on_vrp_port_links_to_that_port(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRP_")}
    env |= {
        "VRP_PORT": str(port),
        "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db",
        "VRP_MAIL_DIR": str(tmp_path / "mail"),
    }
    log = tmp_path / "vrp.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "up", env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def ready() -> bool:
                assert proc.returncode is None, log.read_text()
                try:
                    return (await client.get("/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await _until("vrp up answering", ready)
            await _until("the banner", _printed(log, "Console"))
            banner = log.read_text()
            assert f"Intake API      {url}/v1/referrals" in banner, banner
            assert f"Console         {url}/console/" in banner, banner
            assert ":8000" not in banner, banner
            accepted = await submit(client, bearer(demo_key("uhb")))
            assert accepted["status_url"].startswith(f"{url}/v1/referrals/"), accepted
            assert (
                await client.get(accepted["status_url"], headers=bearer(demo_key("uhb")))
            ).is_success

            async def alerted() -> bool:
                return any(f"{url}/console/" in text for text in _mails(tmp_path))

            await _until("an alert linking to the console", alerted)
            assert not any(":8000/" in text for text in _mails(tmp_path))
    finally:
        proc.terminate()
        await proc.wait()


def _mails(folder: Path) -> list[str]:
    """Every alert's text, decoded (quoted-printable would split a long link)."""
    found = sorted((folder / "mail").glob("*.eml")) if (folder / "mail").exists() else []
    texts = []
    for path in found:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        texts += [
            part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
        ]
    return texts


def _printed(log: Path, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return text in log.read_text(errors="replace")

    return check
