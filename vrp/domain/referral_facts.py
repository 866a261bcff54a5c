"""A referral's coded facts for evaluation and needs assessment: no name, date of birth,
number, postcode, contact or free text; the keyed pseudonym links one person's referrals
until retention removes it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from vrp.domain.referral import Referral, age_on
from vrp.domain.subjects import subject_pseudonym

UNKNOWN_SOURCE = "unknown"
"""The source kind of a sender the configuration in force does not name (a backfilled
referral from an organisation since removed)."""


@dataclass(frozen=True, slots=True)
class ReferralFacts:
    """One `referral_facts` row, less the LSOA (the store looks the postcode up)."""

    referral_id: str
    referred_at: datetime
    month: str
    source_kind: str
    local_authority: str | None
    age: int | None
    sex: str | None
    reason: str
    reasons: str
    pseudonym: str | None

    def row(self) -> dict[str, Any]:
        """The column values, by name (no `asdict`: its deep copy costs the hot path)."""
        return {name: getattr(self, name) for name in _COLUMNS}


_COLUMNS = tuple(f.name for f in fields(ReferralFacts))


def referral_facts(
    referral: Referral, source_kind: str | None, referred_at: datetime, key: bytes
) -> ReferralFacts:
    """The facts of a referral received at `referred_at` (age in whole years on that day;
    the first reason given is the primary one)."""
    s = referral.submission
    return ReferralFacts(
        referral_id=referral.id,
        referred_at=referred_at,
        month=referred_at.strftime("%Y-%m"),
        source_kind=source_kind or UNKNOWN_SOURCE,
        local_authority=referral.local_authority,
        age=age_on(s.subject.date_of_birth, referred_at.date()),
        sex=None if s.subject.sex is None else s.subject.sex.value,
        reason=s.reasons[0],
        reasons=" ".join(sorted(set(s.reasons))),
        pseudonym=subject_pseudonym(key, referral),
    )
