"""Errors of the FHIR door as OperationOutcome resources, with BaRS's receiver error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from fhir.resources.R4B.operationoutcome import OperationOutcome

from vrp.fhir import systems

BARS_CODES: Final[dict[int, tuple[str, str]]] = {
    400: ("REC_BAD_REQUEST", "400: The Receiver was unable to process the request."),
    401: ("REC_UNAUTHORISED", "401: The Receiver requires authorisation."),
    403: ("REC_FORBIDDEN", "403: The Receiver has understood the request, but refuses it."),
    404: ("REC_NOT_FOUND", "404: The Receiver was unable to find the specified resource."),
    405: ("REC_METHOD_NOT_ALLOWED", "405: The method is not allowed."),
    409: ("REC_CONFLICT", "409: The Receiver has detected a conflict."),
    413: ("REC_PAYLOAD_TOO_LARGE", "413: The request is larger than the Receiver accepts."),
    415: ("REC_UNSUPPORTED_MEDIA_TYPE", "415: The media type is not supported."),
    422: ("REC_UNPROCESSABLE_ENTITY", "422: The Receiver could not process the request."),
    425: ("REC_TOO_EARLY", "425: The Receiver is still processing an earlier request."),
    429: ("REC_TOO_MANY_REQUESTS", "429: The Receiver has received too many requests."),
    500: ("REC_SERVER_ERROR", "500: The Receiver has had an internal error."),
    503: ("REC_UNAVAILABLE", "503: The Receiver is currently unavailable."),
}
"""HTTP status -> (BaRS error code, its display), from BaRS's `http-error-codes`."""

ISSUE_TYPES: Final[dict[int, str]] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    425: "transient",
    429: "throttled",
    500: "exception",
    503: "transient",
}
"""The FHIR issue type for each status, where an issue does not name a more precise one."""


@dataclass(frozen=True)
class Issue:
    """One problem: what it is (a FHIR issue type), where (a FHIRPath expression), why."""

    detail: str
    expression: str | None = None
    code: str | None = None
    severity: str = "error"


@dataclass
class FhirRefusal(Exception):
    """A request the FHIR door refuses: its HTTP status and the issues found."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {len(self.issues)} issue(s)"


def outcome(status: int, issues: list[Issue]) -> dict[str, Any]:
    """The OperationOutcome for a refusal: every issue carries BaRS's code for the status.
    Details name elements and rules, never the values sent (they may be personal data)."""
    code, display = BARS_CODES.get(status, BARS_CODES[500 if status >= 500 else 400])
    coding = {"system": systems.BARS_ERRORS, "code": code, "display": display}
    listed = issues or [Issue(display.split(": ", 1)[1])]
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": i.code or ISSUE_TYPES.get(status, "processing"),
                "details": {"coding": [coding], "text": i.detail},
                **({"expression": [i.expression]} if i.expression else {}),
            }
            for i in listed
        ],
    }
    # Built as plain JSON for speed; the model checks its shape in the tests.
    return resource


def informational(detail: str, code: str = "informational") -> dict[str, Any]:
    """An OperationOutcome saying all is well (e.g. a cancellation already applied)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": code, "details": {"text": detail}}],
    }


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """The OperationOutcome, validated by the FHIR model (for tests and examples)."""
    return OperationOutcome.model_validate(resource).model_dump(mode="json", exclude_none=True)
