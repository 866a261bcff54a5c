"""Our lifecycle as FHIR: the referral as a ServiceRequest, each receiving organisation's
handling of it as a Task (one per organisation), with no personal data in either."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vrp.fhir import systems

SERVICE_REQUEST_STATUS = {
    "received": "active",
    "routed": "active",
    "held": "active",
    "accepted": "active",
    "in-progress": "active",
    "completed": "completed",
    "declined": "revoked",
    "cancelled": "revoked",
}
"""Our referral states -> ServiceRequest.status (declined: every offer was turned down and
the request ended before it was carried out, which R4 calls revoked)."""

TASK_STATUS = {
    "awaiting": "requested",
    "accepted": "accepted",
    "declined": "rejected",
    "in-progress": "in-progress",
    "completed": "completed",
    "cancelled": "cancelled",
}
"""Our response states -> Task.status; an awaiting offer whose alert reached the team is
`received`."""

PRIORITY = {"routine": "routine", "urgent": "urgent", "immediate": "stat"}
"""A risk level's urgency -> ServiceRequest.priority."""


@dataclass(frozen=True)
class Recipient:
    """One organisation's copy of a referral, as its sender may see it."""

    organisation: str
    name: str
    intervention: str
    status: str
    reason: str | None
    outcome: str | None
    received_at: datetime
    updated_at: datetime
    delivered: bool


@dataclass(frozen=True)
class Referral:
    """A referral as its sender may see it, and the message that made it."""

    id: str
    reference: str
    status: str
    received_at: datetime
    updated_at: datetime
    category: str | None
    service_request_id: str | None
    recipients: list[Recipient]


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _coded(base: str, system: str, code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {
        "coding": [{"system": systems.code_system(base, system), "code": code}]
    }
    if text:
        concept["text"] = text
    return concept


def service_request(base: str, r: Referral) -> dict[str, Any]:
    """The ServiceRequest for a referral: its state and identifiers; the person referred is
    named by display text only (the sender holds their details; we do not send them back)."""
    identifiers = [
        {
            "system": systems.identifier_system(base, systems.REFERRAL_REFERENCE),
            "value": r.reference,
        }
    ]
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": r.id,
        "meta": {"lastUpdated": _instant(r.updated_at)},
        "identifier": identifiers,
        "status": SERVICE_REQUEST_STATUS.get(r.status, "unknown"),
        "intent": "order",
        "subject": {"display": f"The person referred in {r.reference}"},
        "authoredOn": _instant(r.received_at),
    }
    if r.service_request_id:
        # The sender's own id of the request, so it can match our answer to its record.
        identifiers.append(
            {
                "system": systems.identifier_system(base, "sender-service-request"),
                "value": r.service_request_id,
            }
        )
    if r.category:
        resource["category"] = [_coded(base, systems.USE_CASES, r.category)]
    return resource


def task_id(referral_id: str, organisation: str) -> str:
    """A Task's id: the referral's and the organisation's, within FHIR's 64 characters."""
    readable = f"{referral_id}-{organisation}"
    if len(readable) <= 64:
        return readable
    return f"{referral_id}-{hashlib.sha256(organisation.encode()).hexdigest()[:16]}"


def task(base: str, r: Referral, c: Recipient) -> dict[str, Any]:
    """One receiving organisation's handling of the referral as a Task."""
    status = TASK_STATUS.get(c.status, "requested")
    if status == "requested" and c.delivered:
        status = "received"
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id(r.id, c.organisation),
        "meta": {"lastUpdated": _instant(c.updated_at)},
        "status": status,
        "businessStatus": _coded(base, systems.RECIPIENT_STATES, c.status),
        "intent": "order",
        "focus": {"reference": f"ServiceRequest/{r.id}"},
        "authoredOn": _instant(c.received_at),
        "lastModified": _instant(c.updated_at),
        "owner": {
            "identifier": {
                "system": systems.identifier_system(base, systems.ORGANISATION),
                "value": c.organisation,
            },
            "display": c.name,
        },
        "code": _coded(base, systems.INTERVENTIONS, c.intervention),
    }
    if c.status == "declined" and c.reason:
        resource["statusReason"] = _coded(base, systems.DECLINE_REASONS, c.reason)
    elif c.status == "cancelled" and c.reason:
        resource["statusReason"] = _coded(base, systems.CANCEL_REASON_CODES, c.reason)
    if c.status == "completed" and c.outcome:
        resource["output"] = [
            {
                "type": {"text": "outcome"},
                "valueCodeableConcept": _coded(base, systems.OUTCOMES, c.outcome),
            }
        ]
    return resource


def searchset(base: str, resources: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """A search result Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": url}],
        "entry": [
            {
                "fullUrl": f"{base}/{x['resourceType']}/{x['id']}",
                "resource": x,
                "search": {"mode": "match"},
            }
            for x in resources
        ],
    }
