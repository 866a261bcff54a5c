"""The one way tests build an in-process runtime: settings with the test defaults, the
runtime built, started and serving HTTP on a free loopback port, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.notifier.timers import Clock, system_clock
from services.runtime import ROLES, Runtime, build
from testkit.ports import free_port
from testkit.smtp import SmtpServer
from vrp.settings import Settings


def sqlite_url(folder: Path) -> str:
    """A SQLite file in a test's own folder."""
    return f"sqlite+aiosqlite:///{folder}/vrp.db"


def runtime_settings(
    database_url: str,
    *,
    mail_dir: Path | None = None,
    smtp: SmtpServer | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for a test runtime on `database_url`, serving on a free loopback port.

    Defaults: the demo partners' published keys, polls every 0.1 s, rate limits and
    failed-authentication lockouts far above what a test sends, evidence figures not
    reused. Alerts go to `smtp` when
    given, else as .eml files to `mail_dir` (give one: the default folder is the
    repository's var/mail). `overrides` are Settings fields (e.g. `auth_cache_seconds=0`,
    `demo_partners=False`)."""
    port = free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "demo_partners": True,
        "poll_interval": 0.1,
        "rate_limit_per_second": 10_000,
        "rate_limit_burst": 10_000,
        "auth_failures_per_key": 10_000,
        "auth_failures_per_address": 10_000,
        # Figures computed for every request: tests add data and look again at once (the
        # evidence cache has its own tests).
        "console_evidence_fresh_seconds": 0,
    }
    if mail_dir is not None:
        values["mail_dir"] = mail_dir
    if smtp is not None:
        values |= {"smtp_host": smtp.host, "smtp_port": smtp.port}
    return Settings(**(values | overrides))


async def started(
    settings: Settings, roles: tuple[str, ...] = ROLES, clock: Clock = system_clock
) -> Runtime:
    """Build the runtime of `roles` (migrating an embedded database), start it and return
    once its HTTP server (if intake is one of the roles) accepts connections."""
    runtime = await build(settings, roles, clock=clock)
    await runtime.start()
    try:
        await runtime.wait_started()
    except BaseException:
        await runtime.stop()
        raise
    return runtime


@dataclass
class Served:
    """A started runtime and an HTTP client whose base_url is its intake."""

    runtime: Runtime
    client: httpx.AsyncClient


@asynccontextmanager
async def serving(
    settings: Settings,
    roles: tuple[str, ...] = ROLES,
    timeout: float = 10,
    clock: Clock = system_clock,
) -> AsyncIterator[Served]:
    """A started runtime with a client for it; stopped on exit."""
    runtime = await started(settings, roles, clock)
    try:
        async with httpx.AsyncClient(base_url=settings.public_url, timeout=timeout) as client:
            yield Served(runtime, client)
    finally:
        await runtime.stop()
