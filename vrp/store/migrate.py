"""Run Alembic migrations programmatically (vrp db upgrade; automatic in embedded mode)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from vrp.store.database import Database

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to revision."""

    def run(conn: Connection) -> None:
        command.upgrade(_config(conn), revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)
