"""How the FHIR door appears in the OpenAPI document: FHIR resources in, FHIR resources and
OperationOutcomes out, all as application/fhir+json (the resources' own definitions are the
FHIR R4 specification's; here only their outline, for generic HTTP tooling)."""

from __future__ import annotations

from typing import Any

from vrp.fhir.outcomes import BARS_CODES

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
            "description": BARS_CODES[code][1],
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
