"""Reduce a referral to exactly the items a flow permits, each with its treatment."""

from __future__ import annotations

from collections.abc import Mapping
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


def _clear(item: DataItem, referral: Referral) -> Any:
    s = referral.submission
    values: dict[DataItem, Any] = {
        DataItem.SUBJECT_NAME: {
            "given_name": s.subject.given_name,
            "family_name": s.subject.family_name,
        },
        DataItem.SUBJECT_DATE_OF_BIRTH: s.subject.date_of_birth.isoformat(),
        DataItem.SUBJECT_NHS_NUMBER: s.subject.nhs_number,
        DataItem.SUBJECT_POSTCODE: s.subject.postcode,
        DataItem.SUBJECT_AREA: referral.local_authority,
        DataItem.SUBJECT_CONTACT: (
            s.subject.contact.model_dump(exclude_none=True) if s.subject.contact else None
        ),
        DataItem.REFERRER_NAME: s.referrer.name,
        DataItem.REFERRER_ROLE: s.referrer.role,
        DataItem.REFERRER_CONTACT: s.referrer.contact.model_dump(exclude_none=True),
        DataItem.REASONS: list(s.reasons),
        DataItem.RISK: s.risk.value,
        DataItem.CONSENT: s.consent.model_dump(mode="json", exclude_none=True),
        DataItem.SUMMARY: s.summary,
    }
    return values[item]


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
        value = _clear(item, referral)
        if value is None:
            continue
        if treatment is Treatment.PSEUDONYMISE:
            value = pseudonym(key, item.value, repr(value))
        elif treatment is Treatment.AGE_BAND:
            value = age_band(age_on(referral.submission.subject.date_of_birth, today))
        payload[item.value] = value
    return payload


def shared_items(items: Mapping[DataItem, Treatment]) -> list[DataItem]:
    """The items a flow actually discloses (omitted ones are not shared)."""
    return sorted(i for i, t in items.items() if t is not Treatment.OMIT)
