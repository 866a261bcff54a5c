"""What a `vrp` command works with: the settings read once, the database opened once and
disposed of on the way out, the routing configuration loaded at most once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.settings import Settings
from vrp.store.database import Database


@dataclass
class Resources:
    """One command's settings and database, and its configuration on demand."""

    settings: Settings
    db: Database
    _config: RoutingConfiguration | None = field(default=None, repr=False)

    def config(self) -> RoutingConfiguration:
        """The routing configuration in settings.config_dir (loaded on first use)."""
        if self._config is None:
            self._config = load_configuration(self.settings.config_dir)
        return self._config


@asynccontextmanager
async def resources(settings: Settings | None = None) -> AsyncIterator[Resources]:
    """Open a command's resources; the database is disposed of however the command ends."""
    settings = settings or Settings()
    db = Database(settings.database_url)
    try:
        yield Resources(settings, db)
    finally:
        await db.dispose()
