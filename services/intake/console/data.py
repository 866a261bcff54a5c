"""A minimised referral's items as labelled rows for a page."""

from __future__ import annotations

from typing import Any

from vrp.domain.geography import AREAS
from vrp.domain.vocabulary import SEXES

_LABELS = {
    "subject.name": "Name",
    "subject.date_of_birth": "Date of birth",
    "subject.age_band": "Age band",
    "subject.nhs_number": "NHS number",
    "subject.postcode": "Postcode",
    "subject.local_authority": "Local authority",
    "subject.sex": "Sex",
    "subject.contact": "Contact details",
    "subject.phone": "Phone",
    "subject.email": "Email",
    "referrer.name": "Referrer",
    "referrer.role": "Referrer's role",
    "referrer.contact": "Referrer's contact details",
    "referrer.phone": "Referrer's phone",
    "referrer.email": "Referrer's email",
    "reasons": "Reasons for referral",
    "risk": "Risk level",
    "consent": "Consent",
    "summary": "Summary",
}


def label(item: str) -> str:
    """A person-readable name for a data item code."""
    if item in _LABELS:
        return _LABELS[item]
    last = item.rsplit(".", 1)[-1].replace("_", " ").replace("-", " ")
    return last[:1].upper() + last[1:]


def text(value: Any) -> str:
    """A value as text: lists one per line, mappings as 'key: value'."""
    if isinstance(value, list):
        return "\n".join(text(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{label(str(k))}: {text(v)}" for k, v in value.items() if v is not None)
    return "" if value is None else str(value)


_ORDER = {item: n for n, item in enumerate(_LABELS)}


def rows(
    data: dict[str, Any],
    reasons: dict[str, str] | None = None,
    risks: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(label, text) for each item shared: the person first, then the referrer and the
    referral; reason and risk codes with their labels, local authorities by name."""
    out = []
    for k in sorted(data, key=lambda item: _ORDER.get(item, len(_ORDER))):
        v = data[k]
        if k == "reasons" and reasons and isinstance(v, list):
            v = [reasons.get(str(code), code) for code in v]
        if k == "risk" and risks and isinstance(v, str):
            v = risks.get(v, v)
        if k == "subject.local_authority" and isinstance(v, str):
            v = AREAS.get(v, v)
        if k == "subject.sex" and isinstance(v, str):
            v = SEXES.get(v, v)
        if k == "subject.date_of_birth" and isinstance(v, str) and len(v) < 8:
            out.append(("Age band", v))  # shared as an age band, not the date itself
            continue
        out.append((label(k), text(v)))
    return out
