"""The real PostgreSQL and Kafka that deploy/ starts: reach them, failing (never skipping)
when they are unreachable, and empty the test database. tests/conftest.py builds its
fixtures on these; flows that start their own processes call them directly."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from testkit.kafka import KafkaEnv
from vrp.store.database import Database
from vrp.store.migrate import upgrade

PG_URL = os.environ.get(
    "VRP_TEST_DATABASE_URL", "postgresql+asyncpg://vrp:vrp@127.0.0.1:5432/vrp_test"
)


async def reachable_postgres() -> str:
    """The test database URL; fails the test (never skips) when PostgreSQL is unreachable.
    A test calling it must be marked postgres."""
    db = Database(PG_URL)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same verdict
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}); "
            "start it with deploy/postgres.sh start",
            pytrace=False,
        )
    finally:
        await db.dispose()
    return PG_URL


async def reset_postgres(url: str) -> None:
    """Empty the test database and migrate it to the latest schema."""
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(db)
    await db.dispose()


async def reachable_kafka() -> KafkaEnv:
    """The test broker; fails the test (never skips) when Kafka is unreachable. A test
    calling it must be marked kafka."""
    from aiokafka.admin import AIOKafkaAdminClient

    env = KafkaEnv.from_environment()
    admin = AIOKafkaAdminClient(**env.aiokafka(), request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Kafka is not reachable at {env.bootstrap} as admin "
            f"({type(exc).__name__}); start it with deploy/kafka.sh start",
            pytrace=False,
        )
    finally:
        await admin.close()
    return env
