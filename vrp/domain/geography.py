"""UK postcodes: format check and the West Midlands local authority for a postcode district."""

from __future__ import annotations

import re

# Full-postcode shape (BS 7666 style), case-insensitive, optional single space.
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")

AREAS: dict[str, str] = {
    "E08000025": "Birmingham",
    "E08000026": "Coventry",
    "E08000027": "Dudley",
    "E08000028": "Sandwell",
    "E08000029": "Solihull",
    "E08000030": "Walsall",
    "E08000031": "Wolverhampton",
}


def _districts() -> dict[str, str]:
    """Predominant local authority of each West Midlands postcode district.

    A district can straddle a boundary; a production deployment loads the ONS
    Postcode Directory instead. This table is enough for the demo and the tests.
    """
    table: dict[str, str] = {}

    def put(area: str, prefix: str, numbers: list[int]) -> None:
        for n in numbers:
            table[f"{prefix}{n}"] = area

    put("E08000025", "B", [*range(1, 36), 38, 42, 44, 45, *range(72, 77)])
    put("E08000026", "CV", [1, 2, 3, 4, 5, 6])
    put("E08000027", "DY", [1, 2, 3, 5, 6, 8, 9])
    put("E08000027", "B", [62, 63])
    put("E08000028", "B", [43, *range(64, 72)])
    put("E08000028", "DY", [4])
    put("E08000028", "WS", [10])
    put("E08000029", "B", [36, 37, 40, *range(90, 95)])
    put("E08000030", "WS", [1, 2, 3, 4, 5, 8, 9])
    put("E08000030", "WV", [12, 13])
    put("E08000031", "WV", [1, 2, 3, 4, 6, 10, 11, 14])
    return table


DISTRICTS: dict[str, str] = _districts()


def normalise_postcode(value: str) -> str | None:
    """Return the postcode as 'OUTWARD INWARD' in upper case, or None when malformed."""
    match = _POSTCODE.match(value.strip().upper())
    if match is None:
        return None
    return f"{match.group(1)} {match.group(2)}"


def area_for(postcode: str) -> str | None:
    """ONS code of the West Midlands local authority for a normalised postcode, if known."""
    return DISTRICTS.get(postcode.split(" ", 1)[0])
