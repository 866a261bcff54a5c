"""Reduce a referral to exactly the items a flow permits, each with its treatment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from vrp.domain.identifiers import pseudonym
from vrp.domain.referral import Referral, age_on
from vrp.domain.vocabulary import DataItem, Treatment

_BANDS = ((0, 9), (10, 13), (14, 15), (16, 17), (18, 24), (25, 34), (35, 49), (50, 64))


def age_band(age: int) -> str:
    """Coarse age band, so a recipient learns the age group but not the birthday."""
    for low, high in _BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "65+"


def _contact(referral: Referral) -> Any:
    c = referral.submission.subject.contact
    return c.model_dump(exclude_none=True) if c is not None else None


_VALUES: dict[DataItem, Callable[[Referral], Any]] = {
    DataItem.SUBJECT_NAME: lambda r: {
        "given_name": r.submission.subject.given_name,
        "family_name": r.submission.subject.family_name,
    },
    DataItem.SUBJECT_DATE_OF_BIRTH: lambda r: r.submission.subject.date_of_birth.isoformat(),
    DataItem.SUBJECT_NHS_NUMBER: lambda r: r.submission.subject.nhs_number,
    DataItem.SUBJECT_POSTCODE: lambda r: r.submission.subject.postcode,
    DataItem.SUBJECT_AREA: lambda r: r.local_authority,
    DataItem.SUBJECT_CONTACT: _contact,
    DataItem.REFERRER_NAME: lambda r: r.submission.referrer.name,
    DataItem.REFERRER_ROLE: lambda r: r.submission.referrer.role,
    DataItem.REFERRER_CONTACT: lambda r: r.submission.referrer.contact.model_dump(
        exclude_none=True
    ),
    DataItem.REASONS: lambda r: list(r.submission.reasons),
    DataItem.RISK: lambda r: r.submission.risk.value,
    DataItem.CONSENT: lambda r: r.submission.consent.model_dump(mode="json", exclude_none=True),
    DataItem.SUMMARY: lambda r: r.submission.summary,
}


def minimise(
    referral: Referral,
    items: Mapping[DataItem, Treatment],
    today: date,
    key: bytes,
) -> dict[str, Any]:
    """The payload for one recipient: permitted items only, treated; absent values left out."""
    payload: dict[str, Any] = {}
    for item, treatment in sorted(items.items()):
        if treatment is Treatment.OMIT:
            continue
        value = _VALUES[item](referral)
        if value is None:
            continue
        if treatment is Treatment.PSEUDONYMISE:
            value = pseudonym(key, item.value, repr(value))
        elif treatment is Treatment.AGE_BAND:
            value = age_band(age_on(referral.submission.subject.date_of_birth, today))
        payload[item.value] = value
    return payload
