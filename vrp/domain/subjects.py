"""The keyed pseudonym that links one person's referrals without keeping identifiers."""

from __future__ import annotations

from vrp.domain.audit import nhs_pseudonym
from vrp.domain.identifiers import pseudonym
from vrp.domain.referral import Referral


def subject_pseudonym(key: bytes, referral: Referral) -> str:
    """By NHS number when given, else by normalised name and date of birth."""
    s = referral.submission.subject
    if s.nhs_number:
        return nhs_pseudonym(key, s.nhs_number)
    name = " ".join(f"{s.given_name} {s.family_name}".lower().split())
    return pseudonym(key, "name-dob", name, s.date_of_birth.isoformat())
