"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.infrastructure import reachable_postgres, reset_postgres
from testkit.runtime import sqlite_url
from vrp.store.database import Database
from vrp.store.migrate import upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A freshly migrated database of each kind."""
    if request.param == "sqlite":
        database = Database(sqlite_url(tmp_path))
        await upgrade(database)
    else:
        url = await reachable_postgres()
        await reset_postgres(url)
        database = Database(url)
    yield database
    await database.dispose()
