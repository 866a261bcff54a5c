"""Who refers whom, how often and when: the demo partnership's referral streams, with
their seasons (summer and the late-night economy for A&E, school terms for schools)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

POPULATION: dict[str, int] = {
    "E08000025": 1_157_600,  # Birmingham
    "E08000026": 345_300,  # Coventry
    "E08000027": 323_500,  # Dudley
    "E08000028": 344_300,  # Sandwell
    "E08000029": 218_000,  # Solihull
    "E08000030": 286_700,  # Walsall
    "E08000031": 265_200,  # Wolverhampton
}
"""Residents of each local authority (rounded mid-2020s estimates): volumes follow them."""

A_AND_E: dict[str, str] = {
    "E08000025": "uhb",
    "E08000029": "uhb",
    "E08000026": "uhcw",
    "E08000027": "rwt",
    "E08000028": "rwt",
    "E08000030": "rwt",
    "E08000031": "rwt",
}
"""The emergency department that serves each local authority."""

Weights = tuple[tuple[str, float], ...]


def pick(rng: random.Random, weights: Weights) -> str:
    """One value, drawn by weight."""
    return rng.choices([v for v, _ in weights], [w for _, w in weights])[0]


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson count with this mean (Knuth's method: the means here are small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _summer(day: date) -> float:
    """A&E violence: highest in summer, a smaller rise over Christmas and New Year."""
    peak = 1.0 + 0.35 * math.exp(-(((day.timetuple().tm_yday - 200) / 40) ** 2))
    return peak * (
        1.2 if (day.month, day.day) >= (12, 18) or (day.month, day.day) <= (1, 2) else 1.0
    )


def _festive(day: date) -> float:
    """Domestic abuse: higher over Christmas and New Year and in the summer holidays."""
    christmas = (day.month, day.day) >= (12, 20) or (day.month, day.day) <= (1, 3)
    return 1.35 if christmas else 1.15 if day.month in (7, 8) else 1.0


def in_term(day: date) -> bool:
    """An English school term day (typical West Midlands dates, weekends excluded)."""
    if day.weekday() >= 5:
        return False
    md = (day.month, day.day)
    holidays = (
        ((12, 20), (12, 31)),
        ((1, 1), (1, 4)),
        ((2, 14), (2, 22)),  # February half term
        ((3, 28), (4, 12)),  # Easter
        ((5, 23), (5, 31)),  # May half term
        ((7, 22), (9, 2)),  # summer
        ((10, 24), (11, 1)),  # October half term
    )
    return not any(a <= md <= b for a, b in holidays)


def _terms(day: date) -> float:
    return 1.0 if in_term(day) else 0.0


def _flat(day: date) -> float:
    return 1.0


NIGHT_LIFE = tuple((h, w) for h, w in enumerate(
    (6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 7)
))  # fmt: skip
"""A&E's hours: attendances after violence peak late at night."""
OFFICE = tuple((h, w) for h, w in enumerate(
    (0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 6, 5, 4, 5, 5, 5, 4, 2, 1, 0, 0, 0, 0, 0)
))  # fmt: skip
SCHOOL_DAY = tuple((h, w) for h, w in enumerate(
    (0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 5, 4, 4, 5, 4, 3, 1, 0, 0, 0, 0, 0, 0, 0)
))  # fmt: skip
EVENINGS = tuple((h, w) for h, w in enumerate(
    (3, 2, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 4, 4)
))  # fmt: skip

NIGHT_WEEK = (0.8, 0.75, 0.8, 0.9, 1.1, 1.5, 1.45)
"""Monday..Sunday: Friday and Saturday nights."""
WORK_WEEK = (1.15, 1.1, 1.1, 1.05, 1.0, 0.05, 0.0)
EVERY_DAY = (1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05)


@dataclass(frozen=True, slots=True)
class Stream:
    """One kind of referral: who sends it, about whom, why, and when."""

    name: str
    per_year: int
    sources: Callable[[random.Random, str], str]
    reasons: tuple[tuple[tuple[str, ...], float], ...]
    ages: tuple[tuple[int, int, float], ...]
    risks: Weights
    hours: tuple[tuple[int, float], ...]
    week: tuple[float, ...]
    season: Callable[[date], float]
    repeat: float = 0.0
    """Share of referrals about someone this stream referred before."""
    override: str | None = None
    """The override ground recorded when consent is not given."""
    refused: float = 0.04
    areas: tuple[str, ...] = field(default=tuple(POPULATION))
    female: float = 0.5
    """Share of the people referred who are female (most others male; a few not known)."""

    def weight(self, day: date) -> float:
        """How much of a year's referrals this day gets, before normalising."""
        return self.season(day) * self.week[day.weekday()]


def _fixed(org: str) -> Callable[[random.Random, str], str]:
    return lambda rng, area: org


def _hospital(rng: random.Random, area: str) -> str:
    return A_AND_E[area]


def _da_source(rng: random.Random, area: str) -> str:
    local = "uhb" if area in ("E08000025", "E08000029") else "example-road-surgery"
    return pick(rng, (("example-road-surgery", 0.45), ("wmp", 0.35), (local, 0.12),
                      ("wm-probation", 0.08)))  # fmt: skip


def _schools_or_police(rng: random.Random, area: str) -> str:
    return pick(rng, (("example-park-academy", 0.55), ("wmp", 0.45)))


STREAMS: tuple[Stream, ...] = (
    Stream(
        "a-and-e-violence", 1800, _hospital,
        ((("assault-injury",), 0.55), (("assault-injury", "knife-crime"), 0.25),
         (("knife-crime", "weapon-carrying"), 0.1), (("assault-injury", "firearm-injury"), 0.04),
         (("assault-injury", "gang-association"), 0.06)),
        ((8, 10, 0.02), (11, 13, 0.1), (14, 17, 0.33), (18, 25, 0.45), (26, 45, 0.1)),
        (("standard", 0.35), ("medium", 0.4), ("high", 0.25)),
        NIGHT_LIFE, NIGHT_WEEK, _summer, repeat=0.08, female=0.25,
    ),
    Stream(
        "domestic-abuse", 1900, _da_source,
        ((("domestic-abuse",), 0.85), (("domestic-abuse", "mental-health"), 0.08),
         (("domestic-abuse", "substance-misuse"), 0.07)),
        ((16, 17, 0.04), (18, 24, 0.22), (25, 34, 0.34), (35, 49, 0.3), (50, 70, 0.1)),
        (("standard", 0.3), ("medium", 0.35), ("high", 0.35)),
        EVENINGS, EVERY_DAY, _festive, repeat=0.18, override="prevent-serious-harm",
        refused=0.06, female=0.85,
    ),
    Stream(
        "gp-wellbeing", 180, _fixed("example-road-surgery"),
        ((("mental-health",), 0.6), (("substance-misuse",), 0.4)),
        ((18, 24, 0.3), (25, 49, 0.7)),
        (("standard", 0.6), ("medium", 0.4)),
        OFFICE, WORK_WEEK, _flat,
    ),
    Stream(
        "police-weapons", 380, _fixed("wmp"),
        ((("weapon-carrying",), 0.8), (("weapon-carrying", "knife-crime"), 0.2)),
        ((12, 16, 0.75), (17, 18, 0.2), (19, 21, 0.05)),
        (("standard", 0.3), ("medium", 0.5), ("high", 0.2)),
        EVENINGS, NIGHT_WEEK, _summer, female=0.1,
    ),
    Stream(
        "exploitation", 520, _schools_or_police,
        ((("criminal-exploitation",), 0.45), (("gang-association",), 0.35),
         (("criminal-exploitation", "gang-association"), 0.2)),
        ((11, 13, 0.25), (14, 16, 0.65), (17, 17, 0.1)),
        (("standard", 0.2), ("medium", 0.5), ("high", 0.3)),
        SCHOOL_DAY, WORK_WEEK, _flat, repeat=0.05, female=0.3,
    ),
    Stream(
        "school-exclusion", 420, _fixed("example-park-academy"),
        ((("school-exclusion-risk",), 1.0),),
        ((11, 13, 0.45), (14, 16, 0.55)),
        (("standard", 0.55), ("medium", 0.4), ("high", 0.05)),
        SCHOOL_DAY, WORK_WEEK, _terms, female=0.3,
    ),
    Stream(
        "resettlement", 460, _fixed("wm-probation"),
        ((("prison-release",), 0.8), (("prison-release", "substance-misuse"), 0.2)),
        ((18, 24, 0.35), (25, 34, 0.4), (35, 55, 0.25)),
        (("standard", 0.4), ("medium", 0.45), ("high", 0.15)),
        OFFICE, WORK_WEEK, _flat, female=0.1,
    ),
)  # fmt: skip
"""About 5,700 referrals a year across the seven local authorities."""
