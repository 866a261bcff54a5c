"""A reproducible mix of referrals for benchmarks (fictional, seeded)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.facts import Facts
from vrp.domain.geography import DISTRICTS, area_for
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import OVERRIDE_GROUNDS, REASONS, ConsentState, RiskLevel

TODAY = date(2026, 11, 25)
REFERRERS = [
    "uhb",
    "uhcw",
    "rwt",
    "wmp",
    "wm-probation",
    "example-road-surgery",
    "example-park-academy",
]


def nhs_number(rng: random.Random) -> str:
    """A random 10-digit number with a valid modulus-11 check digit (not a real person's)."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def submissions(n: int, seed: int = 7) -> list[tuple[str, ReferralSubmission]]:
    """n (source organisation, submission) pairs."""
    rng = random.Random(seed)
    districts = sorted(DISTRICTS)
    out = []
    for _ in range(n):
        state = rng.choice([ConsentState.GIVEN] * 4 + list(ConsentState))
        override = (
            None
            if state is ConsentState.GIVEN
            else {
                "ground": rng.choice(sorted(OVERRIDE_GROUNDS)),
                "legal_condition": "DPA 2018",
                "justification": "risk of serious harm",
                "decision_maker": "Safeguarding lead",
            }
        )
        body = {
            "referrer": {
                "name": "Sam Example",
                "role": "Nurse",
                "contact": {"email": "sam@partner.example"},
            },
            "subject": {
                "given_name": rng.choice(["Alex", "Sam", "Jo", "Kai", "Riley"]),
                "family_name": f"Fictional{rng.randint(1, 10**6)}",
                "date_of_birth": (
                    TODAY - timedelta(days=rng.randint(9, 60) * 365 + rng.randint(0, 364))
                ).isoformat(),
                "nhs_number": rng.choice([None, nhs_number(rng)]),
                "postcode": f"{rng.choice(districts)} 1AA",
                "contact": {"phone": "07700 900123"},
            },
            "reasons": rng.sample(sorted(REASONS), rng.randint(1, 2)),
            "risk": rng.choice(list(RiskLevel)).value,
            "consent": {"state": state.value, "override": override},
            "summary": "Fictional summary for benchmarking.",
        }
        out.append((rng.choice(REFERRERS), ReferralSubmission.model_validate(body)))
    return out


def referrals(n: int, seed: int = 7) -> list[Referral]:
    """n full referrals."""
    return [
        Referral(
            id=f"00000000-0000-7000-8000-{i:012d}",
            source_org=src,
            received_at=f"{TODAY.isoformat()}T09:00:00+00:00",
            local_authority=area_for(sub.subject.postcode),
            submission=sub,
        )
        for i, (src, sub) in enumerate(submissions(n, seed))
    ]


def facts(config: RoutingConfiguration, items: list[Referral]) -> list[Facts]:
    """The facts of each referral as the router would compute them."""
    out = []
    for r in items:
        org = config.organisation(r.source_org)
        assert org is not None
        out.append(Facts.of(r, org.kind, TODAY))
    return out
