"""Where the demo history's people live: a postcode of the packaged (fictional) postcode
extract and its LSOA, drawn so that more referrals come from the more deprived LSOAs, as
they do in the partnerships' own data."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vrp.demo_geography import demo_deprivation, demo_postcodes

SKEW = 0.25
"""Each decile more deprived adds this much to an LSOA's weight per resident: decile 1
draws (1 + 9 * SKEW) = 3.25 times the referrals per resident of decile 10."""


@dataclass(frozen=True, slots=True)
class Place:
    """A home: its postcode, local authority and LSOA."""

    postcode: str
    area: str
    lsoa: str


class Places:
    """The extract's postcodes of each local authority, weighted by residents and
    deprivation (read from the packaged files when first built)."""

    def __init__(self) -> None:
        lsoas = demo_deprivation()
        self._places: dict[str, list[Place]] = {}
        self._weights: dict[str, list[float]] = {}
        for p in demo_postcodes():
            if p.lsoa is None or p.lsoa not in lsoas:
                continue
            d = lsoas[p.lsoa]
            self._places.setdefault(p.local_authority, []).append(
                Place(p.postcode, p.local_authority, p.lsoa)
            )
            # Three postcodes share an LSOA: each carries a third of its residents.
            weight = d.population / 3 * (1 + SKEW * (10 - d.decile))
            self._weights.setdefault(p.local_authority, []).append(weight)

    def draw(self, rng: random.Random, area: str) -> Place:
        """A home in the local authority."""
        return rng.choices(self._places[area], self._weights[area])[0]
