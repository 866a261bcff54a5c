"""A FHIR sender for the tests: a JSON API referral body written as a BaRS message Bundle,
as a hospital's system would send it, and its cancellation."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from vrp.fhir import systems

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
GENDERS = {"female": "female", "male": "male", "indeterminate": "other", "not-known": "unknown"}
CONSENT = {
    "given": ("active", "permit"),
    "refused": ("active", "deny"),
    "withdrawn": ("inactive", None),
    "not-sought": ("proposed", None),
}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _coded(base: str, name: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": systems.code_system(base, name), "code": code}]}


def _telecom(contact: dict[str, Any] | None) -> list[dict[str, str]]:
    contact = contact or {}
    out = []
    if contact.get("phone"):
        out.append({"system": "phone", "value": contact["phone"]})
    if contact.get("email"):
        out.append({"system": "email", "value": contact["email"]})
    return out


def _header(base: str, reason: str, focus: str, source: str) -> dict[str, Any]:
    return {
        "resourceType": "MessageHeader",
        "id": str(uuid.uuid4()),
        "eventCoding": {"system": systems.BARS_EVENTS, "code": systems.REQUEST},
        "destination": [{"endpoint": base}],
        "source": {"endpoint": source},
        "reason": {"coding": [{"system": systems.BARS_REASONS, "code": reason}]},
        "focus": [{"reference": focus}],
    }


def _bundle(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    bundle_id = str(uuid.uuid4())
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": {"system": systems.MESSAGE_ID, "value": f"urn:uuid:{bundle_id}"},
        "type": "message",
        "timestamp": "2026-11-25T14:03:00+00:00",
        "entry": [{"fullUrl": url, "resource": r} for url, r in entries],
    }


def message(
    body: dict[str, Any],
    base: str,
    category: str = "violence-prevention-support",
    *,
    service_request_id: str | None = None,
    source: str = "https://ed.hospital.example/fhir",
    ods: str = "RRK",
) -> dict[str, Any]:
    """The referral `body` (as the JSON API takes it) as a `new` message to `base`."""
    ids = {k: str(uuid.uuid4()) for k in ("sr", "patient", "role", "person", "org", "consent")}
    ids["sr"] = service_request_id or ids["sr"]
    url = {k: f"urn:uuid:{v}" for k, v in ids.items()}
    s, r, c = body["subject"], body["referrer"], body["consent"]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ids["patient"],
        "name": [{"use": "official", "family": s["family_name"], "given": [s["given_name"]]}],
        "birthDate": s["date_of_birth"],
        "address": [{"use": "home", "postalCode": s["postcode"]}],
    }
    if s.get("nhs_number"):
        patient["identifier"] = [{"system": systems.NHS_NUMBER, "value": s["nhs_number"]}]
    if _telecom(s.get("contact")):
        patient["telecom"] = _telecom(s.get("contact"))
    if s.get("sex"):
        patient["gender"] = GENDERS[s["sex"]]
    status, provision = CONSENT[c["state"]]
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": ids["consent"],
        "status": status,
        "scope": {"coding": [{"system": systems.CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [
            {
                "coding": [
                    {"system": systems.CONSENT_CATEGORY, "code": systems.CONSENT_CATEGORY_CODE}
                ]
            }
        ],
        "patient": {"reference": url["patient"]},
        "policyRule": {"coding": [{"system": systems.ACT_CODE, "code": "OPTIN"}]},
    }
    if provision:
        consent["provision"] = {"type": provision}
    if c.get("recorded_on"):
        consent["dateTime"] = c["recorded_on"]
    if c.get("override"):
        o = c["override"]
        consent["policyRule"] = _coded(base, systems.OVERRIDE_GROUNDS, o["ground"]) | {
            "text": o["legal_condition"]
        }
        consent["extension"] = [
            {
                "url": systems.extension_url(base, systems.OVERRIDE_JUSTIFICATION),
                "valueString": o["justification"],
            },
            {
                "url": systems.extension_url(base, systems.OVERRIDE_DECISION_MAKER),
                "valueString": o["decision_maker"],
            },
        ]
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": ids["sr"],
        "status": "active",
        "intent": "order",
        "category": [_coded(base, systems.USE_CASES, category)],
        "reasonCode": [_coded(base, systems.REASONS, code) for code in body["reasons"]],
        "orderDetail": [_coded(base, systems.RISK_LEVELS, body["risk"])],
        "subject": {"reference": url["patient"]},
        "requester": {"reference": url["role"]},
        "supportingInfo": [{"reference": url["consent"]}],
        "authoredOn": "2026-11-25T14:03:00+00:00",
        "note": [{"text": body["summary"]}],
    }
    # What is asked for: the use case and, when the referrer chose one, the intervention
    # (R4 also allows orderDetail, which carries the risk level, only beside a code).
    request["code"] = _coded(base, systems.USE_CASES, category)
    if body.get("requested_intervention"):
        request["code"]["coding"] += _coded(
            base, systems.INTERVENTIONS, body["requested_intervention"]
        )["coding"]
    role = {
        "resourceType": "PractitionerRole",
        "id": ids["role"],
        "practitioner": {"reference": url["person"]},
        "organization": {"reference": url["org"]},
        "code": [{"text": r["role"]}],
        "telecom": _telecom(r["contact"]),
    }
    person = {"resourceType": "Practitioner", "id": ids["person"], "name": [{"text": r["name"]}]}
    org = {
        "resourceType": "Organization",
        "id": ids["org"],
        "identifier": [{"system": systems.ODS_CODE, "value": ods}],
        "name": "The referring hospital",
    }
    header = _header(base, systems.NEW, url["sr"], source)
    return _bundle(
        [
            (_urn(), header),
            (url["sr"], request),
            (url["patient"], patient),
            (url["role"], role),
            (url["person"], person),
            (url["org"], org),
            (url["consent"], consent),
        ]
    )


def cancellation(
    base: str,
    service_request_id: str,
    reason: str | None = None,
    source: str = "https://ed.hospital.example/fhir",
    category: str = "violence-prevention-support",
) -> dict[str, Any]:
    """The `update` message that withdraws the referral the ServiceRequest made."""
    url = f"urn:uuid:{service_request_id}"
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": service_request_id,
        "status": "revoked",
        "intent": "order",
        "subject": {"display": "The person referred"},
    }
    if reason:
        # orderDetail only beside a code (R4's prr-1): the use case, as first sent.
        request["code"] = _coded(base, systems.USE_CASES, category)
        request["orderDetail"] = [_coded(base, systems.CANCEL_REASON_CODES, reason)]
    return _bundle([(_urn(), _header(base, systems.UPDATE, url, source)), (url, request)])


EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"


def example(base: str, name: str = "fhir-referral.json") -> dict[str, Any]:
    """An example message under deploy/examples/, addressed to `base`, with fresh ids (so
    each use is a new message and a new ServiceRequest)."""
    text = (EXAMPLES / name).read_text()
    for old in sorted(set(UUID.findall(text))):
        text = text.replace(old, str(uuid.uuid4()))
    bundle: dict[str, Any] = json.loads(text)
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "MessageHeader":
            e["resource"]["destination"] = [{"endpoint": base}]
    return bundle


def resource_of(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    """The first resource of a kind in a bundle."""
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    )
    return found


def headers(auth: dict[str, str], request_id: str | None = None) -> dict[str, str]:
    """A FHIR request's headers: credentials, media type and a (fresh) X-Request-ID."""
    return auth | {
        "Content-Type": "application/fhir+json",
        "X-Request-ID": request_id or str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
    }
