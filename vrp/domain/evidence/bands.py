"""Age bands shared by the dashboard, the needs assessment and the re-referral matching:
wide enough that few cells are small, and summed from single-year population estimates."""

from __future__ import annotations

from vrp.domain.vocabulary import Sex

UNKNOWN = "unknown"
AGE_BANDS = ("under 10", "10-13", "14-17", "18-24", "25+")
# Each band's first and last age (the last band runs to the population files' 90 = 90+).
BAND_AGES: dict[str, tuple[int, int]] = {
    "under 10": (0, 9),
    "10-13": (10, 13),
    "14-17": (14, 17),
    "18-24": (18, 24),
    "25+": (25, 200),
}


def band(age: int | None) -> str:
    """The age band of an age in whole years (`unknown` when the age is not known)."""
    if age is None:
        return UNKNOWN
    for name in AGE_BANDS:
        if age <= BAND_AGES[name][1]:
            return name
    return AGE_BANDS[-1]


SEXES: tuple[str, ...] = tuple(str(s) for s in Sex)
"""The codes of `subject.sex` (vrp.domain.vocabulary); rates only for female and male."""
SEXES_WITH_RATES: tuple[str, ...] = (str(Sex.FEMALE), str(Sex.MALE))
"""The sexes the ONS mid-year estimates count."""
