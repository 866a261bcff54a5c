"""RFC 9457 problem details: every error names the field and never echoes input values."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.api import fhir_errors
from vrp.domain.errors import (
    ConcurrentRequest,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidField,
    InvalidFields,
    NotFound,
    error_location,
)
from vrp.domain.referral import Referral
from vrp.fhir.outcomes import FhirRefusal
from vrp.store.database import DATABASE_ERRORS, unavailable

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
    """Render a Problem (as an OperationOutcome on the FHIR door)."""
    if fhir_errors.on_fhir_door(instance):
        return fhir_errors.from_problem(p.status, p.detail, p.errors, p.headers)
    body = problem_body(p.status, p.slug, p.title, p.detail, instance)
    if p.errors:
        body["errors"] = p.errors
    body.update(p.extensions)
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM, headers=p.headers)


MAX_FIELD_LENGTH = 200  # a field path of the API is far shorter; longer ones are cut


def invalid(errors: list[dict[str, str]], max_errors: int = 20) -> Problem:
    """422 naming each offending field (never its value): at most max_errors of them, each
    path at most MAX_FIELD_LENGTH characters, so the answer stays small whatever is sent."""
    listed = [
        {"field": e["field"][:MAX_FIELD_LENGTH], "detail": e["detail"][:MAX_FIELD_LENGTH]}
        for e in errors[:max_errors]
    ]
    first = listed[0]["field"] if listed else "(body)"
    more = f" ({len(errors) - len(listed)} more not listed)" if len(errors) > len(listed) else ""
    return Problem(
        422,
        "invalid-request",
        "The request is not valid",
        f"{len(errors)} problem(s), first at '{first}'{more}",
        listed,
    )


def malformed(detail: str) -> Problem:
    """400: the body is not a JSON document at all (nothing to name but the body)."""
    return Problem(
        400,
        "malformed-request",
        "Malformed request",
        detail,
        [{"field": "(body)", "detail": detail}],
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
    if isinstance(exc, InvalidFields):
        return invalid([{"field": f, "detail": d} for f, d in exc.problems])
    if isinstance(exc, InvalidField):
        return invalid([{"field": exc.field, "detail": exc.detail}])
    return Problem(422, "refused", "Request refused", str(exc))


def install(app: FastAPI, max_errors: int = 20) -> None:
    """Register the handlers that turn every error into problem+json (at most max_errors
    field errors listed in one answer)."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(FhirRefusal)
    async def _fhir(request: Request, exc: FhirRefusal) -> JSONResponse:
        return fhir_errors.refusal_response(exc)

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(from_domain(exc), request.url.path)

    known: list[frozenset[str]] = []  # the API's field names, once the routes are all added

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in raw):
            # Its location is a byte offset, not a field: the body is malformed as a whole.
            return problem_response(malformed("The body is not a JSON document."), request.url.path)
        known[:] = known or [api_field_names(app)]
        errors = field_errors(raw, skip_prefix=1, known=known[0])
        return problem_response(invalid(errors, max_errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework could not read the body (e.g. bytes that are not UTF-8): the
            # same shape as every other malformed body, naming the body as the field.
            detail = "The body could not be read: send UTF-8 JSON."
            return problem_response(malformed(detail), request.url.path)
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
    for kind in DATABASE_ERRORS:
        if issubclass(kind, Exception):  # all of them: narrowed for the type checker
            app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request)


def _internal(request: Request) -> JSONResponse:
    # Never a stack trace or input echo to the caller; the Idempotency-Key advice only
    # where the request had one.
    detail = "The request could not be completed."
    if "idempotency-key" in request.headers:
        detail += " Retrying with the same Idempotency-Key is safe."
    return problem_response(
        Problem(500, "internal-error", "Internal error", detail), request.url.path
    )
