"""Published contracts stay in sync with the code, and the schema matches the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from services.contracts import expected_files
from vrp.store.database import Database
from vrp.store.tables import metadata

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_schemas_folder_matches_the_code() -> None:
    stale = [
        rel
        for rel, content in expected_files().items()
        if not (SCHEMAS / rel).exists() or (SCHEMAS / rel).read_text() != content
    ]
    assert not stale, f"out of date: {stale}; run `vrp schemas export`"


def _diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def test_migrations_build_exactly_the_declared_schema_on_sqlite(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


@pytest.mark.postgres
async def test_migrations_build_exactly_the_declared_schema_on_postgres(pg_db: Database) -> None:
    async with pg_db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


def test_the_kafka_guide_shows_the_access_table_the_code_applies() -> None:
    from vrp.provisioning.access import access_table

    guide = (SCHEMAS.parent / "docs" / "kafka.md").read_text()
    assert access_table() in guide, "paste `vrp kafka acls` into docs/kafka.md"
