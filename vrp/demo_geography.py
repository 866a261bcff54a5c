"""The demo partnership's packaged geography extracts, in the published files' own columns
so that the same loaders read them as read the real files:

- `populations.csv`: the seven West Midlands local authorities by sex and single year of
  age, as in the ONS mid-year estimates' long format (`ladcode21`, `sex`, `age`,
  `population_2021`). The split by sex and age is FICTIONAL (a smooth urban age profile);
  each authority's total is set near the published mid-2021 estimate, rounded to the
  hundred.
- `deprivation.csv`: a FICTIONAL set of LSOAs for each authority, in the columns of File 7
  of the English Indices of Deprivation (2019): codes from E01900001 (a range no LSOA
  has), names starting "Fictional", deciles 1 to 10 skewed as the region's are, and
  populations that add up to each authority's total.
- `postcodes.csv`: three FICTIONAL postcodes per fictional LSOA, in each authority's real
  postcode districts, in ONSPD's columns (`pcd`, `pcds`, `dointr`, `doterm`, `oslaua`,
  `lsoa21`). The demo history draws its people's postcodes from it, so seeded referrals
  land in LSOAs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vrp.domain import published_files
from vrp.domain.published_files import Deprivation, PostcodeArea
from vrp.store.database import Database
from vrp.store.denominators import Loaded, held, load_deprivation, load_populations

GEOGRAPHY_DIR = Path(__file__).parent / "demo" / "geography"
POPULATIONS = GEOGRAPHY_DIR / "populations.csv"
DEPRIVATION = GEOGRAPHY_DIR / "deprivation.csv"
POSTCODES = GEOGRAPHY_DIR / "postcodes.csv"


@dataclass(frozen=True, slots=True)
class DemoLoaded:
    """What loading the demo's denominators wrote (None: the table held rows already)."""

    populations: Loaded | None
    deprivation: Loaded | None

    def describe(self) -> str:
        """One line for the person starting the demo."""
        parts = []
        if self.populations is not None:
            parts.append(f"{self.populations.rows} population figures")
        if self.deprivation is not None:
            parts.append(f"{self.deprivation.rows} LSOAs' deprivation deciles")
        if not parts:
            return "demo geography: denominators loaded before; kept as they are"
        return f"demo geography: loaded {' and '.join(parts)} (fictional extracts)"


async def load_demo_denominators(db: Database) -> DemoLoaded:
    """Load the packaged populations and deprivation extracts into whichever of the two
    tables is empty; a table holding rows (the real files, or an earlier load) is kept."""
    found = await held(db)
    people = await load_populations(db, POPULATIONS) if not found.populations else None
    lsoas = await load_deprivation(db, DEPRIVATION) if not found.deprivation else None
    return DemoLoaded(people, lsoas)


@cache
def demo_postcodes() -> tuple[PostcodeArea, ...]:
    """Every postcode of the packaged extract (read once, when first asked)."""
    with POSTCODES.open(encoding="utf-8", newline="") as f:
        return tuple(published_files.postcode_areas(f))


@cache
def demo_deprivation() -> dict[str, Deprivation]:
    """Each fictional LSOA's decile and population (read once, when first asked)."""
    with DEPRIVATION.open(encoding="utf-8", newline="") as f:
        return {d.lsoa: d for d in published_files.deprivation(f)}
