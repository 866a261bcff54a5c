"""The coded facts row (`referral_facts`) of each fictional referral, as intake writes one
with every referral it stores: what the evidence pages count, and nothing that names
anyone but the keyed subject pseudonym."""

from __future__ import annotations

from typing import Any

from services.history.draw import Drawn
from vrp.domain.referral import age_on


def referral_facts_row(drawn: Drawn, source_kind: str, pseudonym: str) -> dict[str, Any]:
    """The row: the first reason given is the primary one; sex and LSOA from the person
    (the LSOA is the packaged postcode extract's for their postcode)."""
    r, at = drawn.referral, drawn.received_at
    subject = r.submission.subject
    reasons = [str(x) for x in r.submission.reasons]
    return {
        "referral_id": r.id,
        "referred_at": at,
        "month": at.strftime("%Y-%m"),
        "source_kind": source_kind,
        "local_authority": r.local_authority,
        "lsoa": drawn.person.lsoa,
        "age": age_on(subject.date_of_birth, at.date()),
        "sex": drawn.person.sex,
        "reason": reasons[0],
        "reasons": " ".join(sorted(reasons)),
        "pseudonym": pseudonym,
    }
