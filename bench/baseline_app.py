"""Baseline for bench.intake: a minimal FastAPI endpoint doing one INSERT (one transaction)
on the same PostgreSQL database, served the same way as intake (uvicorn, one process)."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table
from sqlalchemy.ext.asyncio import create_async_engine

metadata = MetaData()
baseline = Table(
    "bench_baseline",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_app(url: str, pool_size: int) -> FastAPI:
    """The baseline app."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/referrals", status_code=202)
    async def insert(body: dict[str, Any], request: Request) -> dict[str, str]:
        rid = str(uuid.uuid4())
        async with engine.begin() as conn:
            await conn.execute(
                baseline.insert().values(id=rid, body=body, created_at=datetime.now(UTC))
            )
        return {"id": rid, "status": "received"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    """Serve the baseline on loopback."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--pool-size", type=int, default=10)
    args = p.parse_args()
    uvicorn.run(
        create_app(args.db, args.pool_size),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
