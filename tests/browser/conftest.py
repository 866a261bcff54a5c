"""The browser tests' system: the embedded demo, alerting by email to a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.runtime import Served, runtime_settings, serving
from testkit.smtp import SmtpServer


@pytest.fixture
async def system(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Served]:
    """The embedded demo system, alerting by email to a real SMTP server on loopback."""
    settings = runtime_settings(f"sqlite+aiosqlite:///{tmp_path}/vrp.db", smtp=smtp)
    async with serving(settings) as served:
        yield served
