"""Read a BaRS referral message into the body the JSON API accepts, remembering which FHIR
element each field came from so that a refusal names the element the sender wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vrp.fhir import systems
from vrp.fhir.bundles import Entries, Entry, parse
from vrp.fhir.outcomes import FhirRefusal, Issue
from vrp.fhir.people import consent, patient, referrer


@dataclass(frozen=True)
class Message:
    """What a received message asks, and the referral it carries (for `new`)."""

    bundle_id: str
    reason: str
    source_endpoint: str | None
    service_request_id: str
    category: str | None
    ods_code: str | None
    body: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    cancel_reason: str | None = None
    category_at: str = "Bundle"
    """Where the use case was coded (ServiceRequest.category), for a refusal to name."""

    def element(self, api_field: str) -> str:
        """The FHIR element a JSON API field path came from (its nearest mapped parent)."""
        parts = api_field.split(".")
        while parts:
            found = self.origins.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return "Bundle"


def _refuse(detail: str, where: str, code: str = "invalid") -> FhirRefusal:
    return FhirRefusal(422, [Issue(detail, where, code)])


def codes(concept: Any, name: str) -> list[str]:
    """The codes of a CodeableConcept from this service's code system `name`."""
    if not isinstance(concept, dict):
        return []
    return [
        str(c["code"])
        for c in concept.get("coding") or []
        if systems.is_ours(c.get("system"), name) and c.get("code")
    ]


def read(raw: bytes, endpoint: str) -> Message:
    """The message in `raw`, addressed to `endpoint` (this service's FHIR base), or a
    refusal naming the element at fault."""
    doc = parse(raw)
    if doc.get("type") != "message":
        raise _refuse("must be 'message' (a BaRS message bundle)", "Bundle.type", "value")
    entries = Entries(doc)
    if not entries.all or entries.all[0].index != 0 or entries.all[0].type != "MessageHeader":
        raise _refuse("the first entry must be a MessageHeader", "Bundle.entry[0].resource")
    header = entries.all[0]
    h = header.resource
    event = h.get("eventCoding") or {}
    if event.get("system") != systems.BARS_EVENTS or event.get("code") != systems.REQUEST:
        raise _refuse(
            f"this service accepts the BaRS event {systems.REQUEST} only",
            f"{header.path}.eventCoding",
            "not-supported",
        )
    reason = _reason(h, header)
    _check_destination(h, header, endpoint)
    focus = h.get("focus") or []
    if len(focus) != 1:
        raise _refuse("must name exactly one ServiceRequest", f"{header.path}.focus", "required")
    request = entries.resolve(focus[0], f"{header.path}.focus[0]", ("ServiceRequest",))
    source = (h.get("source") or {}).get("endpoint")
    bundle_id = str(doc.get("id") or "")
    if not bundle_id:
        raise _refuse("a message bundle needs its id", "Bundle.id", "required")
    sr = request.resource
    common: dict[str, Any] = {
        "bundle_id": bundle_id,
        "source_endpoint": source,
        "service_request_id": str(sr.get("id") or ""),
    }
    if not common["service_request_id"]:
        raise _refuse("the ServiceRequest needs its id", f"{request.path}.id", "required")
    if reason != systems.NEW:
        if sr.get("status") != "revoked":
            raise _refuse(
                "a cancellation (reason update) sends the ServiceRequest with status revoked",
                f"{request.path}.status",
                "value",
            )
        found = codes(_first(sr.get("orderDetail")), systems.CANCEL_REASON_CODES)
        return Message(
            reason=systems.UPDATE,
            category=None,
            ods_code=None,
            cancel_reason=found[0] if found else None,
            **common,
        )
    if sr.get("status") != "active":
        raise _refuse("a new referral's ServiceRequest has status active", f"{request.path}.status")
    return _new(entries, request, common)


def _first(items: Any) -> Any:
    # orderDetail and the like are lists; the first coded one carries the code.
    return next((i for i in items or [] if isinstance(i, dict) and i.get("coding")), None)


def _reason(h: dict[str, Any], header: Entry) -> str:
    found = [
        str(c.get("code"))
        for c in (h.get("reason") or {}).get("coding") or []
        if c.get("system") == systems.BARS_REASONS
    ]
    if not found:
        raise _refuse("needs a BaRS reason (new or update)", f"{header.path}.reason", "required")
    if found[0] == systems.NEW or found[0] in systems.CANCEL_REASONS:
        return found[0]
    raise _refuse("must be new (refer) or update (cancel)", f"{header.path}.reason", "value")


def _check_destination(h: dict[str, Any], header: Entry, endpoint: str) -> None:
    wanted = endpoint.rstrip("/")
    given = [str(d.get("endpoint") or "").rstrip("/") for d in h.get("destination") or []]
    if wanted not in given:
        raise _refuse(
            f"is not this service: address the message to {wanted}",
            f"{header.path}.destination",
            "value",
        )


def _new(entries: Entries, request: Entry, common: dict[str, Any]) -> Message:
    sr = request.resource
    patients = entries.of_type("Patient")
    if len(patients) != 1:
        where = patients[1].path if patients else "Bundle.entry"
        raise _refuse("a referral message carries exactly one Patient", where, "invariant")
    person = entries.resolve(sr.get("subject"), f"{request.path}.subject", ("Patient",))
    origins: dict[str, str] = {}
    body: dict[str, Any] = {}
    body["subject"] = patient(person, origins)
    body["referrer"], ods = referrer(entries, request, origins)
    body["consent"] = consent(entries, person, origins)
    reasons = [
        (n, code)
        for n, rc in enumerate(sr.get("reasonCode") or [])
        for code in codes(rc, "reasons")
    ]
    body["reasons"] = [code for _, code in reasons]
    origins["reasons"] = f"{request.path}.reasonCode"
    for i, (n, _) in enumerate(reasons):
        origins[f"reasons.{i}"] = f"{request.path}.reasonCode[{n}]"
    if not reasons:
        raise _refuse(
            "needs at least one code from this service's reasons code system",
            f"{request.path}.reasonCode",
            "required",
        )
    risk = codes(_first(sr.get("orderDetail")), systems.RISK_LEVELS)
    if not risk:
        raise _refuse(
            "needs the risk level, coded from this service's risk-levels code system",
            f"{request.path}.orderDetail",
            "required",
        )
    body["risk"] = risk[0]
    origins["risk"] = f"{request.path}.orderDetail"
    notes = [str(n["text"]) for n in sr.get("note") or [] if n.get("text")]
    if not notes:
        raise _refuse("needs the referral's summary as a note", f"{request.path}.note", "required")
    body["summary"] = "\n\n".join(notes)
    origins["summary"] = f"{request.path}.note"
    wanted = codes(sr.get("code"), systems.INTERVENTIONS)
    if wanted:
        body["requested_intervention"] = wanted[0]
        origins["requested_intervention"] = f"{request.path}.code"
    category = [
        c for concept in sr.get("category") or [] for c in codes(concept, systems.USE_CASES)
    ]
    if not category:
        raise _refuse(
            "needs the use case, coded from this service's use-case code system "
            "(GET /fhir/MessageDefinition lists them)",
            f"{request.path}.category",
            "required",
        )
    return Message(
        reason=systems.NEW,
        category=category[0],
        category_at=f"{request.path}.category",
        ods_code=ods,
        body=body,
        origins=origins,
        **common,
    )
