"""How the FHIR door appears in the OpenAPI document: FHIR resources in, FHIR resources and
OperationOutcomes out, all as application/fhir+json (the resources' own definitions are the
FHIR R4 specification's; here only their outline, for generic HTTP tooling)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from vrp.fhir import capability, replies, tasks
from vrp.fhir.outcomes import BARS_CODES, Issue, outcome

FHIR_JSON = "application/fhir+json"

RESOURCE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}},
    "description": "A FHIR R4 resource (https://hl7.org/fhir/R4/).",
}

OPERATION_OUTCOME: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "details": {"type": "object"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

MESSAGE_BUNDLE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["message"]},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {
                        "type": "object",
                        "required": ["resourceType"],
                        "properties": {
                            "resourceType": {
                                "enum": [
                                    "MessageHeader",
                                    "ServiceRequest",
                                    "Patient",
                                    "Practitioner",
                                    "PractitionerRole",
                                    "Organization",
                                    "Consent",
                                ]
                            }
                        },
                    },
                },
            },
        },
    },
    "description": "A BaRS message Bundle (deploy/examples/fhir-referral.json).",
}


def responses(ok: int, *codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a FHIR operation: `ok` with a resource, the others with an
    OperationOutcome carrying BaRS's error code."""
    out: dict[int | str, dict[str, Any]] = {
        ok: {"description": "The resource", "content": {FHIR_JSON: {"schema": RESOURCE}}}
    }
    for code in codes:
        entry: dict[str, Any] = {
            "description": BARS_CODES.get(code, (None, f"{code}: refused"))[1],
            "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME}},
        }
        if code in (425, 429, 503):
            entry["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


MESSAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {"schema": MESSAGE_BUNDLE},
            "application/json": {"schema": MESSAGE_BUNDLE},
        },
    }
}


_BASE = "http://127.0.0.1:8000/fhir"
_AT = datetime(2026, 11, 25, 14, 3, 5, tzinfo=UTC)
_ID = "01a213be-199c-703e-b2b8-239618ae8fc2"
_ERRORS = {
    400: "X-Request-ID is required (a UUID per request; the same for a retry).",
    404: "No ServiceRequest with this id is visible to you.",
    409: "This message was received before under this X-Request-ID; nothing was stored again.",
    422: "subject.date_of_birth: is in the future",
    425: "An earlier request with this X-Request-ID is still being processed.",
}


def example_message(name: str = "referral-message.json") -> dict[str, Any]:
    """A packaged example message (deploy/examples/fhir-*.json link to them)."""
    text = files("vrp.fhir").joinpath("examples", name).read_text(encoding="utf-8")
    found: dict[str, Any] = json.loads(text)
    return found


def _sample() -> tasks.Referral:
    navigators = tasks.Recipient(
        "navigators", "Hospital Youth Violence Navigators", "navigators-birmingham",
        "accepted", None, None, _AT, _AT, delivered=True,
    )  # fmt: skip
    return tasks.Referral(
        _ID, "VRP-239618AE8F", "accepted", _AT, _AT, "violence-prevention-support",
        "4b1f7c52-8f3e-4a2c-9d61-0c2e9a7b3f10", [navigators],
    )  # fmt: skip


def _ok_example(path: str) -> dict[str, Any]:
    referral = _sample()
    request = tasks.service_request(_BASE, referral)
    if path.endswith("$process-message"):
        sent = example_message()["id"]
        return replies.response_message(_BASE, sent, None, [request], message_id=_ID, at=_AT)
    if path.endswith("/Task"):
        found = [tasks.task(_BASE, referral, r) for r in referral.recipients]
        return tasks.searchset(_BASE, found, f"{_BASE}/Task?focus=ServiceRequest/{_ID}")
    definition = capability.message_definition(
        _BASE, referral.category or "", ["A&E youth violence navigators"], "c0fe4b9d8bde908c", _AT
    )
    if path.endswith("/MessageDefinition"):
        return tasks.searchset(_BASE, [definition], f"{_BASE}/MessageDefinition")
    if path.endswith("/metadata"):
        return capability.capability_statement(_BASE, [definition["id"]], "c0fe4b9d8bde908c", _AT)
    return request if "ServiceRequest" in path else definition


def describe(path: str, operation: dict[str, Any]) -> None:
    """Give a FHIR operation of the OpenAPI document its examples (built when the document
    is, from the same builders the door answers with)."""
    for status, response in operation["responses"].items():
        for media in response.get("content", {}).values():
            if status.startswith("2"):
                media["example"] = _ok_example(path)
            else:
                code = int(status)
                media["example"] = outcome(
                    code, [Issue(_ERRORS.get(code, BARS_CODES.get(code, ("", f"{code}"))[1]))]
                )
    for media in operation.get("requestBody", {}).get("content", {}).values():
        media["example"] = example_message()
