"""The intake FastAPI application; resources come from the lifespan, nothing at import."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from services.intake.api import problems as problem_handlers
from services.intake.api import receivers, routes, token
from services.intake.api.dependencies import known_query_parameters
from services.intake.api.limits import BodySizeLimit, InFlight, RateLimiter
from services.intake.api.schemas import problems
from services.intake.api.tracing import TracingMiddleware
from services.intake.auth.keys import AuthCache
from vrp.settings import Settings
from vrp.store.database import Database


def _without_native_telemetry() -> dict[str, Any]:
    # FastAPI >= 0.16x traces requests itself once a tracer provider is installed. Our own
    # middleware (ids only, never query strings, headers or bodies) is the one span per
    # request; a second, differently redacted set would double the cost and the noise.
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def create_app(
    settings: Settings,
    db: Database | None = None,
    broker_healthy: Callable[[], bool] | None = None,
) -> FastAPI:
    """Build the app; pass db to share one with other in-process services, and
    broker_healthy (the relay's view of the broker) for /ready to report it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = db is None
        app.state.settings = settings
        app.state.db = db or Database(
            settings.database_url, settings.database_pool_size, settings.database_pre_ping
        )
        app.state.rate_limiter = RateLimiter(
            settings.rate_limit_per_second, settings.rate_limit_burst
        )
        app.state.in_flight = InFlight()
        app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
        app.state.broker_healthy = broker_healthy
        try:
            yield
        finally:
            if own:
                await app.state.db.dispose()

    app = FastAPI(
        **_without_native_telemetry(),
        dependencies=[Depends(known_query_parameters)],
        responses=problems(422, 503),
        title="VRP referral intake",
        version="1.0.0",
        summary="Submit referrals to the Violence Reduction Partnership, follow them, and "
        "respond to the referrals routed to your organisation.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    app.include_router(receivers.router)
    app.include_router(token.router)
    problem_handlers.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TracingMiddleware)
    return app
