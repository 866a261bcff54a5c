"""A received message Bundle: checked against FHIR R4 by the model library, then its
entries indexed so that references can be resolved and named by their element path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from vrp.fhir.outcomes import FhirRefusal, Issue

MAX_ISSUES = 20


def element_path(loc: tuple[int | str, ...], root: str = "Bundle") -> str:
    """A pydantic location as an element path: (entry, 2, resource) -> entry[2].resource."""
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse(raw: bytes) -> dict[str, Any]:
    """The JSON document, valid as a FHIR R4 Bundle, or a refusal naming each element."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FhirRefusal(
            400, [Issue("The body is not a JSON document.", code="structure")]
        ) from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise FhirRefusal(400, [Issue("The body must be a FHIR Bundle.", "Bundle", "structure")])
    _check_types(doc)
    # The Bundle without its resources, then each resource by its own class (looked up
    # once per type): the same checks as the whole Bundle at once, in 4/5 of the time.
    entries = doc["entry"] if isinstance(doc.get("entry"), list) else []
    shell = {**doc, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    issues: list[Issue] = []
    try:
        Bundle.model_validate(shell if entries else doc)
        for n, e in enumerate(entries):
            try:
                get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
            except ValidationError as exc:
                issues += _issues(exc, ("entry", n, "resource"))
    except ValidationError as exc:
        issues += _issues(exc)
    except Exception:  # noqa: BLE001 - see below
        # The model library raises TypeError, KeyError, ValueError and AttributeError
        # (seen so far) instead of a ValidationError on some ill-typed input: a resourceType
        # that is not a type's name in a nested Bundle, `false` where a URL belongs. Whatever
        # it raises on a sender's document is a refusal of that document, never a 500.
        detail = "The Bundle is not valid FHIR R4 (an element has the wrong type)."
        raise FhirRefusal(422, [Issue(detail, "Bundle", "structure")]) from None
    if issues:
        raise FhirRefusal(422, issues[:MAX_ISSUES])
    return doc


def _check_types(doc: dict[str, Any]) -> None:
    """Each entry's resource names a FHIR R4 resource type (checked first, so the refusal
    can say which entry)."""
    entries = doc.get("entry")
    if not isinstance(entries, list):
        return  # the model names what is wrong with it
    for n, e in enumerate(entries):
        resource = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(resource, dict):
            where = f"Bundle.entry[{n}]"
            raise FhirRefusal(422, [Issue("needs a resource (a JSON object)", where, "structure")])
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not _known(kind):
            where = f"Bundle.entry[{n}].resource.resourceType"
            raise FhirRefusal(422, [Issue("is not a FHIR R4 resource type", where, "structure")])


def _known(kind: str) -> bool:
    try:
        get_fhir_model_class(kind)
    except (ValueError, KeyError):
        return False
    return True


def _issues(exc: ValidationError, within: tuple[int | str, ...] = ()) -> list[Issue]:
    issues = []
    for e in exc.errors(include_input=False, include_url=False)[:MAX_ISSUES]:
        loc = (*within, *e["loc"])
        # An unexpected element's name is the sender's own text: not echoed.
        if e["type"] == "extra_forbidden" and loc:
            loc = (*loc[:-1], "(unexpected element)")
        detail = str(e["msg"]).removeprefix("Value error, ")
        issues.append(Issue(detail, element_path(loc), "structure"))
    return issues


@dataclass(frozen=True)
class Entry:
    """One resource of the bundle and where it is."""

    index: int
    resource: dict[str, Any]

    @property
    def path(self) -> str:
        """Its element path, e.g. Bundle.entry[2].resource."""
        return f"Bundle.entry[{self.index}].resource"

    @property
    def type(self) -> str:
        """Its resourceType."""
        return str(self.resource.get("resourceType"))


class Entries:
    """The bundle's resources, found by fullUrl or by Type/id."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.all = [
            Entry(n, e["resource"]) for n, e in enumerate(doc.get("entry") or []) if "resource" in e
        ]
        self._by_url: dict[str, Entry] = {}
        duplicates: list[Issue] = []
        for n, e in enumerate(doc.get("entry") or []):
            entry = Entry(n, e.get("resource") or {})
            names = [e.get("fullUrl")]
            if entry.resource.get("id"):
                names.append(f"{entry.type}/{entry.resource['id']}")
            if e.get("fullUrl") in self._by_url:
                duplicates.append(
                    Issue(
                        "fullUrl is used by another entry", f"Bundle.entry[{n}].fullUrl", "invalid"
                    )
                )
            for name in names:
                if name:
                    self._by_url.setdefault(str(name), entry)
        if duplicates:
            raise FhirRefusal(422, duplicates)

    def of_type(self, kind: str) -> list[Entry]:
        """The entries holding a resource of this type."""
        return [e for e in self.all if e.type == kind]

    def resolve(self, reference: Any, where: str, kinds: tuple[str, ...]) -> Entry:
        """The entry a Reference points to, of one of `kinds`; refused when it points
        outside the bundle or to another type (the message must carry what it refers to)."""
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not target:
            raise FhirRefusal(
                422, [Issue(f"must reference a {' or '.join(kinds)}", where, "required")]
            )
        entry = self._by_url.get(str(target))
        if entry is None:
            raise FhirRefusal(
                422, [Issue("the reference does not resolve within the bundle", where, "not-found")]
            )
        if entry.type not in kinds:
            raise FhirRefusal(
                422, [Issue(f"must reference a {' or '.join(kinds)}, not a {entry.type}", where)]
            )
        return entry
