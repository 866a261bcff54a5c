"""The benchmarks' own PostgreSQL databases on loopback: each run starts from an empty,
migrated one of its name, dropped and created again."""

from __future__ import annotations

from sqlalchemy import text

from vrp.store.database import Database
from vrp.store.migrate import upgrade

PG = "postgresql+asyncpg://vrp:vrp@127.0.0.1:5432/{}?ssl=disable"
"""A database of the local PostgreSQL by name (the `vrp` role of deploy/postgres.sh)."""


def url(name: str) -> str:
    """The address of the benchmark database `name`."""
    return PG.format(name)


async def recreated(name: str) -> Database:
    """`name` dropped (even with connections open), created empty and migrated."""
    admin = Database(url("vrp"))
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await conn.execute(text(f"CREATE DATABASE {name}"))
    await admin.dispose()
    db = Database(url(name))
    await upgrade(db)
    return db
