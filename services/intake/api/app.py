"""The intake FastAPI application; resources come from the lifespan, nothing at import."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from services.intake.api import contract, fhir, receivers, routes, token, vocabulary_schema
from services.intake.api import problems as problem_handlers
from services.intake.api.dependencies import known_query_parameters
from services.intake.api.docs import DocsPolicy
from services.intake.api.headers import AlwaysHeaders
from services.intake.api.limits import BodySizeLimit, ConcurrencyLimit
from services.intake.api.schemas import problems
from services.intake.api.state import IntakeState, intake_state
from services.intake.api.tracing import TracingMiddleware
from services.intake.api.traffic import RequestMetrics
from services.intake.console import mount as console
from vrp.metrics import CONTENT_TYPE
from vrp.settings import Settings


def _without_native_telemetry() -> dict[str, Any]:
    # FastAPI >= 0.16x traces requests itself once a tracer provider is installed. Our own
    # middleware (ids only, never query strings, headers or bodies) is the one span per
    # request; a second, differently redacted set would double the cost and the noise.
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


async def _metrics(request: Request) -> Response:
    """The Prometheus text exposition of this process's metrics."""
    return Response(await intake_state(request).metrics.render(), media_type=CONTENT_TYPE)


def create_app(settings: Settings, state: IntakeState | None = None) -> FastAPI:
    """Build the app serving with state, whose resources the composition root
    (services/runtime.py) created and closes; without state, the app only describes itself
    (its OpenAPI document, for services/contracts.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state is not None:
            app.state.intake = state
        yield

    # Swagger UI, ReDoc and their favicon come from the package, never from a CDN.
    app = FastAPIOffline(
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
    app.include_router(fhir.router)
    console.mount(app)
    vocabulary_schema.install(app, settings, state.config if state else None)
    contract.install(app)  # the rules the models cannot state
    # Unauthenticated like /health: counts and codes only, for a scraper on the ops network
    # (no partner credential to rate-limit by); kept out of the partner API's OpenAPI.
    app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    problem_handlers.install(app, settings.max_validation_errors)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ConcurrencyLimit, max_in_flight=settings.max_in_flight)
    app.add_middleware(DocsPolicy)
    app.add_middleware(TracingMiddleware)
    app.add_middleware(AlwaysHeaders)  # outside the limits: their refusals carry them too
    if state is not None:
        # Added last, so outermost: it counts what the limits above refuse (413, 503).
        app.add_middleware(RequestMetrics, metrics=state.metrics, routes=app.router.routes)
    return app
