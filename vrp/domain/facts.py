"""The coded facts of a referral that routing depends on; no identifiers, so storable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vrp.domain.referral import Referral, age_on
from vrp.domain.vocabulary import ConsentState, OrgKind


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the engine looks at besides the configuration.

    Kept free of names, dates of birth and numbers, so the router can store the facts of
    every decision and `vrp rules simulate` can replay years of history lawfully.
    """

    referral_id: str
    source_org: str
    source_kind: OrgKind
    reasons: frozenset[str]
    risk: str
    age: int
    area: str | None
    consent: ConsentState
    override_ground: str | None
    requested: str | None
    today: date
    prior_referrals: tuple[date, ...] = ()
    load: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        referral: Referral,
        source_kind: OrgKind,
        today: date,
        prior_referrals: tuple[date, ...] = (),
        load: Mapping[str, int] | None = None,
    ) -> Facts:
        """Facts of a full referral."""
        s = referral.submission
        return cls(
            referral_id=referral.id,
            source_org=referral.source_org,
            source_kind=source_kind,
            reasons=frozenset(s.reasons),
            risk=s.risk,
            age=age_on(s.subject.date_of_birth, today),
            area=referral.local_authority,
            consent=s.consent.state,
            override_ground=s.consent.override.ground if s.consent.override else None,
            requested=s.requested_intervention,
            today=today,
            prior_referrals=prior_referrals,
            load=load or {},
        )

    def to_json(self) -> dict[str, Any]:
        """Storable form (load is not stored: it is a property of the moment)."""
        return {
            "referral_id": self.referral_id,
            "source_org": self.source_org,
            "source_kind": self.source_kind.value,
            "reasons": sorted(self.reasons),
            "risk": self.risk,
            "age": self.age,
            "area": self.area,
            "consent": self.consent.value,
            "override_ground": self.override_ground,
            "requested": self.requested,
            "today": self.today.isoformat(),
            "prior_referrals": [d.isoformat() for d in self.prior_referrals],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        """Inverse of to_json."""
        return cls(
            referral_id=data["referral_id"],
            source_org=data["source_org"],
            source_kind=OrgKind(data["source_kind"]),
            reasons=frozenset(data["reasons"]),
            risk=str(data["risk"]),
            age=int(data["age"]),
            area=data["area"],
            consent=ConsentState(data["consent"]),
            override_ground=data["override_ground"],
            requested=data["requested"],
            today=date.fromisoformat(data["today"]),
            prior_referrals=tuple(date.fromisoformat(d) for d in data["prior_referrals"]),
        )
