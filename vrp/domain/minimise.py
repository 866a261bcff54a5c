"""Reduce a referral to exactly the items a flow permits, each with its treatment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from vrp.domain.identifiers import pseudonym
from vrp.domain.referral import Contact, Referral, age_on
from vrp.domain.vocabulary import DataItem, Treatment

_BANDS = ((0, 9), (10, 13), (14, 15), (16, 17), (18, 24), (25, 34), (35, 49), (50, 64))


def age_band(age: int) -> str:
    """Coarse age band, so a recipient learns the age group but not the birthday."""
    for low, high in _BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "65+"


def _contact(c: Contact | None) -> dict[str, str] | None:
    if c is None:
        return None
    return {k: v for k, v in (("email", c.email), ("phone", c.phone)) if v is not None}


def _consent(r: Referral) -> dict[str, Any]:
    c = r.submission.consent
    out: dict[str, Any] = {"state": c.state.value}
    if c.recorded_on is not None:
        out["recorded_on"] = c.recorded_on.isoformat()
    if c.override is not None:
        o = c.override
        out["override"] = {
            "ground": o.ground,
            "legal_condition": o.legal_condition,
            "justification": o.justification,
            "decision_maker": o.decision_maker,
        }
    return out


_VALUES: dict[DataItem, Callable[[Referral], Any]] = {
    DataItem.SUBJECT_NAME: lambda r: {
        "given_name": r.submission.subject.given_name,
        "family_name": r.submission.subject.family_name,
    },
    DataItem.SUBJECT_DATE_OF_BIRTH: lambda r: r.submission.subject.date_of_birth.isoformat(),
    DataItem.SUBJECT_NHS_NUMBER: lambda r: r.submission.subject.nhs_number,
    DataItem.SUBJECT_POSTCODE: lambda r: r.submission.subject.postcode,
    DataItem.SUBJECT_AREA: lambda r: r.local_authority,
    DataItem.SUBJECT_SEX: lambda r: (s := r.submission.subject.sex) and s.value,
    DataItem.SUBJECT_CONTACT: lambda r: _contact(r.submission.subject.contact),
    DataItem.SUBJECT_PHONE: lambda r: (c := r.submission.subject.contact) and c.phone,
    DataItem.SUBJECT_EMAIL: lambda r: (c := r.submission.subject.contact) and c.email,
    DataItem.REFERRER_NAME: lambda r: r.submission.referrer.name,
    DataItem.REFERRER_ROLE: lambda r: r.submission.referrer.role,
    DataItem.REFERRER_CONTACT: lambda r: _contact(r.submission.referrer.contact),
    DataItem.REFERRER_PHONE: lambda r: r.submission.referrer.contact.phone,
    DataItem.REFERRER_EMAIL: lambda r: r.submission.referrer.contact.email,
    DataItem.REASONS: lambda r: list(r.submission.reasons),
    DataItem.RISK: lambda r: r.submission.risk,
    DataItem.CONSENT: _consent,
    DataItem.SUMMARY: lambda r: r.submission.summary,
}


SATISFIED_BY: dict[DataItem, frozenset[DataItem]] = {
    DataItem.SUBJECT_CONTACT: frozenset(
        {DataItem.SUBJECT_CONTACT, DataItem.SUBJECT_PHONE, DataItem.SUBJECT_EMAIL}
    ),
    DataItem.REFERRER_CONTACT: frozenset(
        {DataItem.REFERRER_CONTACT, DataItem.REFERRER_PHONE, DataItem.REFERRER_EMAIL}
    ),
}
"""A required 'contact' is met by a flow sharing either half: a way to reach the person."""


def unmet(required: Iterable[str], shared: frozenset[DataItem]) -> list[str]:
    """The required items a flow's shared items do not cover, sorted."""
    return sorted(
        r
        for r in set(required)
        if not SATISFIED_BY.get(DataItem(r), frozenset({DataItem(r)})) & shared
    )


def plan(items: Mapping[DataItem, Treatment]) -> tuple[tuple[DataItem, Treatment], ...]:
    """The items a flow discloses, in a stable order, with their treatments (omitted dropped)."""
    return tuple((i, t) for i, t in sorted(items.items()) if t is not Treatment.OMIT)


def minimise(
    referral: Referral,
    disclosed: Iterable[tuple[DataItem, Treatment]],
    today: date,
    key: bytes,
) -> dict[str, Any]:
    """The payload for one recipient: the planned items only, treated; absent values left out."""
    payload: dict[str, Any] = {}
    for item, treatment in disclosed:
        if treatment is Treatment.AGE_BAND:
            payload[item.value] = age_band(age_on(referral.submission.subject.date_of_birth, today))
            continue
        value = _VALUES[item](referral)
        if value is None:
            continue
        if treatment is Treatment.PSEUDONYMISE:
            value = pseudonym(key, item.value, repr(value))
        payload[item.value] = value
    return payload
