"""What a `vrp` command works with: the settings read once, the database opened once (on
first use) and disposed of on the way out, the routing configuration loaded at most once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.settings import Settings
from vrp.store.database import Database, missing_schema


@dataclass
class Resources:
    """One command's settings, and its database and configuration on demand."""

    settings: Settings
    database_url: str
    """The database the command works on: the settings' unless the command named another."""
    pool_size: int = 10
    pre_ping: bool = True
    _db: Database | None = field(default=None, repr=False)
    _config: RoutingConfiguration | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        """The database (opened on first use, so a command that needs none makes none)."""
        if self._db is None:
            self._db = Database(self.database_url, self.pool_size, self.pre_ping)
        return self._db

    def config(self) -> RoutingConfiguration:
        """The routing configuration in settings.config_dir (loaded on first use)."""
        if self._config is None:
            self._config = load_configuration(self.settings.config_dir)
        return self._config

    async def close(self) -> None:
        """Dispose of the database, if it was opened."""
        if self._db is not None:
            await self._db.dispose()


@asynccontextmanager
async def resources(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    pool_size: int = 10,
    pre_ping: bool = True,
) -> AsyncIterator[Resources]:
    """Open a command's resources (on database_url instead of the settings' database when
    given); the database is disposed of however the command ends."""
    settings = settings or Settings()
    r = Resources(settings, database_url or settings.database_url, pool_size, pre_ping)
    try:
        yield r
    except Exception as exc:
        if missing_schema(exc):
            # A command run before the services ever started (or after an upgrade of the
            # code but not of the database) says what to do, not a driver's traceback.
            raise SystemExit(
                "vrp: the database has no schema yet, or an older one: run `vrp db upgrade`"
            ) from None
        raise
    finally:
        await r.close()
