"""RFC 9457 problem details: every error names the field and never echoes input values."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vrp.domain.errors import (
    ConcurrentRequest,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidField,
    NotFound,
    error_location,
)
from vrp.domain.referral import Referral
from vrp.store.database import unavailable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_BASE = "https://vrp.example/problems/"


class Problem(Exception):
    """An error to return as problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extensions = extensions or {}


def problem_body(status: int, slug: str, title: str, detail: str, instance: str) -> dict[str, Any]:
    """The RFC 9457 members of a problem."""
    return {
        "type": _BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }


def problem_response(p: Problem, instance: str) -> JSONResponse:
    """Render a Problem."""
    body = problem_body(p.status, p.slug, p.title, p.detail, instance)
    if p.errors:
        body["errors"] = p.errors
    body.update(p.extensions)
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM, headers=p.headers)


def invalid(errors: list[dict[str, str]]) -> Problem:
    """422 naming each offending field (never its value)."""
    first = errors[0]["field"] if errors else "(body)"
    return Problem(
        422,
        "invalid-request",
        "The request is not valid",
        f"{len(errors)} problem(s), first at '{first}'",
        errors,
    )


def conflict(detail: str, headers: dict[str, str] | None = None) -> Problem:
    """409: the request conflicts with the referral's current state."""
    return Problem(409, "conflict", "Conflict with the current state", detail, headers=headers)


def field_errors(
    errors: list[dict[str, Any]], skip_prefix: int, known: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """Pydantic errors as {field, detail}; locations only, never the offending value (an
    unexpected field is named only when `known`, a field name of the API)."""
    out = []
    for e in errors:
        msg = str(e["msg"]).removeprefix("Value error, ")
        field = error_location(e, skip_prefix, known) or "(body)"
        out.append({"field": field, "detail": msg})
    return out


def api_field_names(app: FastAPI) -> frozenset[str]:
    """Every property name in the app's OpenAPI schemas and the stored referral's fields
    (the system's own words, e.g. a `source_org` a caller must not set)."""
    schemas = app.openapi().get("components", {}).get("schemas", {})
    names = {name for s in schemas.values() for name in s.get("properties", {})}
    return frozenset(names | set(Referral.model_fields))


def from_domain(exc: DomainError) -> Problem:
    """The problem+json a use case's refusal is answered with."""
    if isinstance(exc, NotFound):
        return Problem(404, "not-found", "Not found", "No referral with this id is visible to you.")
    if isinstance(exc, Conflict):
        return conflict(str(exc))
    if isinstance(exc, ConcurrentRequest):
        return Problem(409, "conflict", "Conflict", "A concurrent request collided; retry it.")
    if isinstance(exc, IdempotencyKeyReused):
        return Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            "This Idempotency-Key was used for a different referral body; use a new key.",
            [{"field": "Idempotency-Key", "detail": "already used with a different body"}],
        )
    if isinstance(exc, InvalidField):
        return invalid([{"field": exc.field, "detail": exc.detail}])
    return Problem(422, "refused", "Request refused", str(exc))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(from_domain(exc), request.url.path)

    known: list[frozenset[str]] = []  # the API's field names, once the routes are all added

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        known[:] = known or [api_field_names(app)]
        errors = field_errors(list(exc.errors()), skip_prefix=1, known=known[0])
        return problem_response(invalid(errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {400: "malformed-request", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "http-error"
        )
        title = str(exc.detail) if isinstance(exc.detail, str) else "HTTP error"
        return problem_response(
            Problem(exc.status_code, slug, title, title, headers=dict(exc.headers or {})),
            request.url.path,
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # An unreachable or restarting database is transient: 503 with Retry-After (the
        # request had no effect, or its effect is found again by its Idempotency-Key).
        if unavailable(exc):
            return problem_response(
                Problem(
                    503,
                    "unavailable",
                    "Service unavailable",
                    "The database is briefly unavailable; retry (with the same "
                    "Idempotency-Key) shortly.",
                    headers={"Retry-After": "1"},
                ),
                request.url.path,
            )
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return _internal(request)

    # Registered per class (not only as the catch-all) so they are answered by the
    # exception middleware, which does not re-raise: no traceback in the log.
    for kind in (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request)


def _internal(request: Request) -> JSONResponse:
    # Never a stack trace or input echo to the caller.
    return problem_response(
        Problem(
            500,
            "internal-error",
            "Internal error",
            "The request could not be completed; retrying with the same Idempotency-Key is safe.",
        ),
        request.url.path,
    )
