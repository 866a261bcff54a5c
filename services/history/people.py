"""Fictional people for the demo history: names nobody has, NHS numbers from the 999 range
(never issued to a patient), postcodes of the packaged fictional extract (in the right local
authority, each in a fictional LSOA), Ofcom's drama phone numbers and the reserved .example
mail domain."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from services.history.places import Place
from vrp.domain.identifiers import nhs_number_is_valid

GIVEN = (
    "Alex", "Sam", "Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Robin", "Charlie",
    "Frankie", "Harley", "Kai", "Remi", "Rowan", "Sasha", "Toni", "Avery", "Drew", "Quinn",
)  # fmt: skip
FAMILY = (
    "Fictional", "Example", "Sample", "Madeup", "Placeholder", "Notreal", "Testperson",
    "Demo", "Imaginary", "Pretend", "Invented", "Storybook",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    """One fictional person who may be referred more than once."""

    given_name: str
    family_name: str
    date_of_birth: date
    nhs_number: str
    postcode: str
    area: str
    phone: str
    sex: str
    lsoa: str
    reluctant: bool = False
    """Did not engage with the last offer they had (the demo history's re-referrals)."""


def nhs_number(rng: random.Random) -> str:
    """A valid NHS number from the 999 test range (never a real patient's)."""
    while True:
        stem = "999" + "".join(str(rng.randrange(10)) for _ in range(6))
        total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10 and nhs_number_is_valid(stem + str(check)):
            return stem + str(check)


def person(rng: random.Random, home: Place, age: int, on: date, sex: str) -> Person:
    """A new fictional person of this age and sex on that day, living at `home`."""
    born = on - timedelta(days=age * 365 + rng.randrange(365))
    return Person(
        given_name=rng.choice(GIVEN),
        family_name=rng.choice(FAMILY),
        date_of_birth=born,
        nhs_number=nhs_number(rng),
        postcode=home.postcode,
        area=home.area,
        phone=f"07700 900{rng.randrange(1000):03d}",
        sex=sex,
        lsoa=home.lsoa,
    )
