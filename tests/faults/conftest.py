"""Fixtures of the fault scenarios: a broker of the module's own (so stopping it disturbs
no other test) and an SMTP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from testkit.ports import free_port
from testkit.production import Broker, Production, production
from testkit.smtp import SmtpServer


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker for this module alone, started once and stopped after its last test."""
    broker = Broker.create(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback."""
    with SmtpServer(free_port()) as server:
        yield server


@pytest.fixture
async def on_own_broker(
    postgres_url: str, own_broker: Broker, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[Production]:
    """The three services as processes on the module's own broker."""
    async with production(postgres_url, own_broker.env(), smtp_server, tmp_path) as run:
        yield run
