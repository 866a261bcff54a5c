"""The people of a referral message: the Patient, the referring professional and the
person's consent, each read into the JSON API's shape with the elements they came from."""

from __future__ import annotations

from typing import Any

from vrp.fhir import systems
from vrp.fhir.bundles import Entries, Entry
from vrp.fhir.outcomes import FhirRefusal, Issue

GENDERS = {"female": "female", "male": "male", "other": "indeterminate", "unknown": "not-known"}
"""FHIR administrative gender -> our sex codes (NHS "person stated gender")."""

CONSENT_STATES = {
    ("active", "permit"): "given",
    ("active", "deny"): "refused",
    ("rejected", None): "refused",
    ("inactive", None): "withdrawn",
    ("proposed", None): "not-sought",
}
"""(Consent.status, Consent.provision.type) -> our consent state; None: any type."""


def _refuse(detail: str, where: str, code: str = "required") -> FhirRefusal:
    return FhirRefusal(422, [Issue(detail, where, code)])


def _name(resource: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    names = resource.get("name") or []
    for use in ("official", "usual", None):
        for n, name in enumerate(names):
            if use is None or name.get("use") == use:
                return n, name
    return None


def _contact(entry: Entry, origins: dict[str, str], prefix: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for n, t in enumerate(entry.resource.get("telecom") or []):
        kind = t.get("system")
        if kind in ("phone", "sms") and "phone" not in out and t.get("value"):
            out["phone"] = str(t["value"])
            origins[f"{prefix}.phone"] = f"{entry.path}.telecom[{n}].value"
        elif kind == "email" and "email" not in out and t.get("value"):
            out["email"] = str(t["value"])
            origins[f"{prefix}.email"] = f"{entry.path}.telecom[{n}].value"
    origins[prefix] = f"{entry.path}.telecom"
    return out or None


def patient(entry: Entry, origins: dict[str, str]) -> dict[str, Any]:
    """The JSON API's `subject` from a Patient."""
    p = entry.resource
    origins["subject"] = entry.path
    out: dict[str, Any] = {}
    found = _name(p)
    if found is None:
        raise _refuse("needs the person's name", f"{entry.path}.name")
    n, name = found
    out["given_name"] = " ".join(str(g) for g in name.get("given") or [])
    out["family_name"] = str(name.get("family") or "")
    origins["subject.given_name"] = f"{entry.path}.name[{n}].given"
    origins["subject.family_name"] = f"{entry.path}.name[{n}].family"
    out["date_of_birth"] = p.get("birthDate")
    origins["subject.date_of_birth"] = f"{entry.path}.birthDate"
    for i, ident in enumerate(p.get("identifier") or []):
        if ident.get("system") == systems.NHS_NUMBER:
            out["nhs_number"] = ident.get("value")
            origins["subject.nhs_number"] = f"{entry.path}.identifier[{i}].value"
            break
    addresses = p.get("address") or []
    at = next((n for n, a in enumerate(addresses) if a.get("use") == "home"), 0)
    home: dict[str, Any] = addresses[at] if addresses else {}
    out["postcode"] = home.get("postalCode")
    origins["subject.postcode"] = f"{entry.path}.address[{at}].postalCode"
    contact = _contact(entry, origins, "subject.contact")
    if contact:
        out["contact"] = contact
    if p.get("gender"):
        out["sex"] = GENDERS.get(str(p["gender"]), str(p["gender"]))
        origins["subject.sex"] = f"{entry.path}.gender"
    return {k: v for k, v in out.items() if v not in (None, "")}


def referrer(
    entries: Entries, request: Entry, origins: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """The JSON API's `referrer` from the ServiceRequest's requester (a PractitionerRole
    with its Practitioner, or a Practitioner), and the requesting organisation's ODS code."""
    who = entries.resolve(
        request.resource.get("requester"),
        f"{request.path}.requester",
        ("PractitionerRole", "Practitioner"),
    )
    role_entry = who if who.type == "PractitionerRole" else None
    person = who
    if role_entry is not None:
        person = entries.resolve(
            role_entry.resource.get("practitioner"),
            f"{role_entry.path}.practitioner",
            ("Practitioner",),
        )
    origins["referrer"] = who.path
    out: dict[str, Any] = {}
    found = _name(person.resource)
    if found is None:
        raise _refuse("needs the referrer's name", f"{person.path}.name")
    n, name = found
    text = (
        name.get("text")
        or " ".join(
            [*(str(g) for g in name.get("given") or []), str(name.get("family") or "")]
        ).strip()
    )
    out["name"] = text
    origins["referrer.name"] = f"{person.path}.name[{n}]"
    role_text = ""
    if role_entry is not None:
        for c in role_entry.resource.get("code") or []:
            role_text = c.get("text") or next(
                (str(x["display"]) for x in c.get("coding") or [] if x.get("display")), ""
            )
            if role_text:
                break
    out["role"] = role_text
    origins["referrer.role"] = f"{(role_entry or who).path}.code"
    contact_from = role_entry if role_entry and role_entry.resource.get("telecom") else person
    out["contact"] = _contact(contact_from, origins, "referrer.contact") or {}
    ods = None
    if role_entry is not None and role_entry.resource.get("organization"):
        org = entries.resolve(
            role_entry.resource["organization"],
            f"{role_entry.path}.organization",
            ("Organization",),
        )
        ods = next(
            (
                str(i["value"])
                for i in org.resource.get("identifier") or []
                if i.get("system") in systems.ODS_CODES and i.get("value")
            ),
            None,
        )
    return out, ods


def consent(entries: Entries, person: Entry, origins: dict[str, str]) -> dict[str, Any]:
    """The JSON API's `consent` from the bundle's one Consent for the Patient."""
    found = entries.of_type("Consent")
    if len(found) != 1:
        where = found[1].path if found else "Bundle.entry"
        raise _refuse("a referral message carries exactly one Consent", where, "invariant")
    entry = found[0]
    c = entry.resource
    entries.resolve(c.get("patient"), f"{entry.path}.patient", ("Patient",))
    origins["consent"] = entry.path
    provision = (c.get("provision") or {}).get("type")
    status = str(c.get("status"))
    state = CONSENT_STATES.get((status, provision)) or CONSENT_STATES.get((status, None))
    if state is None:
        raise _refuse(
            "status (with provision.type) must say given (active, permit), refused (active, "
            "deny; or rejected), withdrawn (inactive) or not sought (proposed)",
            f"{entry.path}.status",
            "value",
        )
    out: dict[str, Any] = {"state": state}
    origins["consent.state"] = f"{entry.path}.status"
    if c.get("dateTime"):
        out["recorded_on"] = str(c["dateTime"])[:10]
        origins["consent.recorded_on"] = f"{entry.path}.dateTime"
    grounds = [
        str(x["code"])
        for x in (c.get("policyRule") or {}).get("coding") or []
        if systems.is_ours(x.get("system"), systems.OVERRIDE_GROUNDS) and x.get("code")
    ]
    if grounds:
        rule = c.get("policyRule") or {}
        extensions = {
            str(e.get("url", "")).rsplit("/", 1)[-1]: (n, e.get("valueString"))
            for n, e in enumerate(c.get("extension") or [])
        }
        override: dict[str, Any] = {"ground": grounds[0], "legal_condition": rule.get("text")}
        origins["consent.override"] = f"{entry.path}.policyRule"
        origins["consent.override.ground"] = f"{entry.path}.policyRule.coding"
        origins["consent.override.legal_condition"] = f"{entry.path}.policyRule.text"
        for key, name in (
            ("justification", systems.OVERRIDE_JUSTIFICATION),
            ("decision_maker", systems.OVERRIDE_DECISION_MAKER),
        ):
            n, value = extensions.get(name, (None, None))
            override[key] = value
            origins[f"consent.override.{key}"] = (
                f"{entry.path}.extension[{n}].valueString"
                if n is not None
                else f"{entry.path}.extension"
            )
        out["override"] = {k: v for k, v in override.items() if v is not None}
    return out
