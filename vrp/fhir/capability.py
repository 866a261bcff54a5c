"""What this deployment's FHIR door serves: its CapabilityStatement and one
MessageDefinition per use case (a use case per intervention purpose in the configuration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vrp.fhir import systems

SOFTWARE = "VRP referral routing"


def use_cases(purposes: dict[str, list[str]]) -> list[str]:
    """The use-case codes a configuration serves: its interventions' purposes, sorted."""
    return sorted(purposes)


def definition_id(use_case: str) -> str:
    """The MessageDefinition id for a use case."""
    return f"servicerequest-request-{use_case}"[:64]


def message_definition(
    base: str, use_case: str, titles: list[str], version: str, date: datetime
) -> dict[str, Any]:
    """The MessageDefinition of a referral for one use case: what to send, and which
    interventions it may reach (their titles, as the configuration names them)."""
    reached = "; ".join(titles)
    return {
        "resourceType": "MessageDefinition",
        "id": definition_id(use_case),
        "url": f"{base}/MessageDefinition/{definition_id(use_case)}",
        "version": version,
        "name": "ServiceRequestRequest" + "".join(p.title() for p in use_case.split("-")),
        "title": f"Referral for {use_case.replace('-', ' ')}",
        "status": "active",
        "date": date.isoformat(timespec="seconds"),
        "publisher": SOFTWARE,
        "description": (
            "A BaRS servicerequest-request message whose ServiceRequest.category is coded "
            f"{use_case} from {systems.code_system(base, systems.USE_CASES)}. Interventions "
            f"of this kind in this partnership: {reached}. Routing follows the partnership's "
            "rules and information-sharing agreements, as for the JSON API."
        ),
        "useContext": [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "focus",
                },
                "valueCodeableConcept": {
                    "coding": [
                        {"system": systems.code_system(base, systems.USE_CASES), "code": use_case}
                    ]
                },
            }
        ],
        "eventCoding": {"system": systems.BARS_EVENTS, "code": systems.REQUEST},
        "category": "notification",
        "focus": [{"code": "ServiceRequest", "min": 1, "max": "1"}],
        "responseRequired": "always",
    }


def capability_statement(
    base: str, definitions: list[str], version: str, date: datetime
) -> dict[str, Any]:
    """The CapabilityStatement: $process-message, ServiceRequest and Task reads, and the
    messages this deployment receives (its MessageDefinitions' canonical URLs)."""
    return {
        "resourceType": "CapabilityStatement",
        "id": "vrp-referrals",
        "url": f"{base}/metadata",
        "version": version,
        "name": "VrpReferralRouting",
        "title": "Violence Reduction Partnership referral routing: FHIR door",
        "status": "active",
        "date": date.isoformat(timespec="seconds"),
        "publisher": SOFTWARE,
        "kind": "instance",
        "software": {"name": SOFTWARE},
        "implementation": {"description": "Referrals as BaRS messages", "url": base},
        "fhirVersion": systems.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "A partner API key or OAuth access token as a Bearer "
                    "token, as for the JSON API; each organisation sees only its own "
                    "referrals."
                },
                "resource": [
                    {
                        "type": "ServiceRequest",
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "type": "Task",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "focus",
                                "type": "reference",
                                "documentation": "The ServiceRequest",
                            }
                        ],
                    },
                    {
                        "type": "MessageDefinition",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                    },
                ],
                "operation": [{"name": "process-message", "definition": systems.PROCESS_MESSAGE}],
            }
        ],
        "messaging": [
            {
                "supportedMessage": [
                    {"mode": "receiver", "definition": f"{base}/MessageDefinition/{d}"}
                    for d in definitions
                ],
                "documentation": "Send referrals and cancellations as BaRS messages to "
                "$process-message; status changes come back as servicerequest-response "
                "messages to a registered endpoint.",
            }
        ],
    }
