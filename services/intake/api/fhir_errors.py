"""Errors on the FHIR door answered as OperationOutcome (application/fhir+json), whatever
raised them: the door's own refusals, authentication, limits and the framework's."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from vrp.fhir.outcomes import FhirRefusal, Issue, outcome

FHIR_JSON = "application/fhir+json"
PREFIX = "/fhir"


def on_fhir_door(path: str) -> bool:
    """Whether a request path is the FHIR door's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class FhirResponse(JSONResponse):
    """A FHIR resource as application/fhir+json."""

    media_type = FHIR_JSON


def refusal_response(refusal: FhirRefusal) -> JSONResponse:
    """A refusal as its OperationOutcome."""
    body = outcome(refusal.status, refusal.issues)
    return FhirResponse(body, status_code=refusal.status, headers=refusal.headers)


def from_problem(
    status: int, detail: str, errors: list[dict[str, str]], headers: dict[str, str]
) -> JSONResponse:
    """A problem the shared handlers found (401, 403, 429, 503, a bad header...) as an
    OperationOutcome: each named field becomes the issue's expression."""
    issues: list[Issue] = [Issue(e["detail"], e["field"]) for e in errors] or [Issue(detail)]
    return refusal_response(FhirRefusal(status, issues, dict(headers)))


def resource(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A FHIR resource answer."""
    return FhirResponse(body, status_code=status, headers=headers)
