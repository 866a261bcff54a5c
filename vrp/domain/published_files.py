"""The published geography files, read as they are released: the ONS Postcode Directory
(ONSPD), the ONS mid-year population estimates in their long format, and File 7 of the
English Indices of Deprivation. Column names carry the release's year, so columns are found
by pattern; a missing one is named in the error, and blank or suppressed cells are skipped
(counted), never read as zero."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from vrp.domain.geography import normalise_postcode

SUPPRESSED = frozenset({"", ":", "..", "-", "x", "[x]", "c", "[c]", "z", "[z]", "*", "n/a"})
"""What statistical releases put in a cell with no figure (blank, ONS and GSS markers)."""
AREA_CODE = re.compile(r"^[EJKLMNSW]\d{8}$")
"""A GSS area code (E08000025); pseudo codes end 99999999 and mean 'none'."""
SEXES = {"1": "male", "2": "female"}
"""The mid-year estimates' sex codes."""
OLDEST = 90
"""The estimates' last age: 90 means 90 and over."""


class FileFormatError(ValueError):
    """The file is not the published file we expected; the message names the column or line."""


@dataclass(slots=True)
class Tally:
    """What a reading kept and skipped (blank or suppressed cells, terminated postcodes)."""

    read: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class PostcodeArea:
    """One live postcode of the directory: its local authority and, if given, its LSOA."""

    postcode: str
    local_authority: str
    lsoa: str | None


@dataclass(frozen=True, slots=True)
class Population:
    """Residents of one local authority of one sex and single year of age, mid-year."""

    local_authority: str
    year: int
    sex: str
    age: int
    population: int


@dataclass(frozen=True, slots=True)
class Deprivation:
    """One LSOA's Index of Multiple Deprivation decile (1 = most deprived) and population."""

    lsoa: str
    local_authority: str | None
    decile: int
    population: int


@dataclass(frozen=True, slots=True)
class Column:
    """A column the reader needs: the pattern its name matches, and how to describe it."""

    pattern: re.Pattern[str]
    described: str
    required: bool = True


def _find(names: list[str], wanted: Mapping[str, Column], what: str) -> dict[str, str]:
    """Each wanted column's actual name; FileFormatError naming every one that is missing."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for key, column in wanted.items():
        match = next((n for n in names if column.pattern.match(n.strip())), None)
        if match is not None:
            found[key] = match
        elif column.required:
            missing.append(column.described)
    if missing:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise FileFormatError(
            f"no column {' and no column '.join(missing)}: is this {what}? (its columns: {shown})"
        )
    return found


def _rows(
    lines: Iterable[str], wanted: Mapping[str, Column], what: str
) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """(line number, row by actual column name, wanted key -> actual name) of each row."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise FileFormatError(f"the file is empty, not {what}")
    names = [h.strip().lstrip("\ufeff") for h in header]
    found = _find(names, wanted, what)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, dict(zip(names, (c.strip() for c in row), strict=False)), found


def _number(value: str, line: int, column: str) -> int | None:
    """A count from a cell: None when blank or suppressed; thousands separators allowed."""
    if value.lower() in SUPPRESSED:
        return None
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise FileFormatError(
            f"line {line}: column {column!r}: {value!r} is not a number"
        ) from None
    if number < 0 or number != int(number):
        raise FileFormatError(f"line {line}: column {column!r}: {value!r} is not a count")
    return int(number)


def _area(value: str) -> str | None:
    code = value.strip().upper()
    return code if AREA_CODE.match(code) and not code.endswith("99999999") else None


ONSPD = "the ONS Postcode Directory (ONSPD)"
ONSPD_COLUMNS = {
    "postcode": Column(re.compile(r"^(pcds|pcd2|pcd)$", re.I), "pcds (or pcd2, pcd)"),
    "authority": Column(
        re.compile(r"^(oslaua|lad\d{2}cd)$", re.I), "oslaua or ladYYcd (local authority)"
    ),
    "lsoa21": Column(re.compile(r"^lsoa21(cd)?$", re.I), "lsoa21", required=False),
    "lsoa11": Column(re.compile(r"^lsoa11(cd)?$", re.I), "lsoa11", required=False),
    "doterm": Column(re.compile(r"^doterm$", re.I), "doterm", required=False),
}


def postcode_areas(lines: Iterable[str], tally: Tally | None = None) -> Iterator[PostcodeArea]:
    """Each live postcode of an ONSPD extract with its local authority and LSOA (lsoa21,
    else lsoa11; None when the file has neither); terminated postcodes (doterm) and rows
    without a local authority are skipped."""
    tally = tally if tally is not None else Tally()
    postcode_pref = ("pcds", "pcd2", "pcd")  # pcds first: one space, as people write it
    for _, row, found in _rows(lines, ONSPD_COLUMNS, ONSPD):
        lowered = {k.lower(): v for k, v in row.items()}
        raw = next((lowered[c] for c in postcode_pref if c in lowered), row[found["postcode"]])
        postcode = normalise_postcode(raw)
        authority = _area(row.get(found["authority"], ""))
        if postcode is None or authority is None or row.get(found.get("doterm", ""), ""):
            tally.skipped += 1
            continue
        lsoa = next(
            (
                code
                for key in ("lsoa21", "lsoa11")
                if key in found and (code := _area(row.get(found[key], ""))) is not None
            ),
            None,
        )
        tally.read += 1
        yield PostcodeArea(postcode, authority, lsoa)


MYE = "the ONS mid-year population estimates (long format)"
MYE_COLUMNS = {
    "authority": Column(
        re.compile(r"^(ladcode\d{2}|ladcode\d{4}|lad\d{2}cd)$", re.I),
        "ladcodeYY (the local authority code)",
    ),
    "sex": Column(re.compile(r"^sex$", re.I), "sex (1 male, 2 female)"),
    "age": Column(re.compile(r"^age$", re.I), "age (0 to 90)"),
}
YEAR_COLUMN = re.compile(r"^population_(\d{4})$", re.I)


def populations(lines: Iterable[str], tally: Tally | None = None) -> Iterator[Population]:
    """Every (local authority, year, sex, age) figure of a mid-year estimates file in long
    format: one row per ladcodeYY, sex and age, one population_YYYY column per year.
    Blank or suppressed figures are skipped; rows of other geographies (no GSS code) too."""
    tally = tally if tally is not None else Tally()
    seen: set[tuple[str, int, str, int]] = set()
    years: list[tuple[str, int]] | None = None
    for line, row, found in _rows(lines, MYE_COLUMNS, MYE):
        if years is None:
            years = [(n, int(m.group(1))) for n in row if (m := YEAR_COLUMN.match(n))]
            if not years:
                raise FileFormatError(f"no column population_YYYY: is this {MYE}?")
        authority = _area(row.get(found["authority"], ""))
        if authority is None:
            tally.skipped += 1
            continue
        sex = SEXES.get(row.get(found["sex"], ""))
        if sex is None:
            raise FileFormatError(
                f"line {line}: column {found['sex']!r}: "
                f"{row.get(found['sex'], '')!r} is not 1 (male) or 2 (female)"
            )
        age_text = row.get(found["age"], "").rstrip("+")
        if not age_text.isdigit() or int(age_text) > OLDEST:
            raise FileFormatError(
                f"line {line}: column {found['age']!r}: "
                f"{row.get(found['age'], '')!r} is not an age from 0 to 90"
            )
        age = int(age_text)
        for column, year in years:
            count = _number(row.get(column, ""), line, column)
            if count is None:
                tally.skipped += 1
                continue
            key = (authority, year, sex, age)
            if key in seen:
                raise FileFormatError(
                    f"line {line}: {authority} {sex} aged {age} in {year} appears twice"
                )
            seen.add(key)
            tally.read += 1
            yield Population(authority, year, sex, age, count)


IMD = "File 7 of the English Indices of Deprivation"
IMD_COLUMNS = {
    "lsoa": Column(re.compile(r"^LSOA code \((2011|2021)\)$", re.I), "'LSOA code (2011|2021)'"),
    "authority": Column(
        re.compile(r"^Local Authority District code \(\d{4}\)$", re.I),
        "'Local Authority District code (YYYY)'",
        required=False,
    ),
    "decile": Column(
        re.compile(r"^Index of Multiple Deprivation \(IMD\) Decile\b", re.I),
        "'Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)'",
    ),
    "population": Column(
        re.compile(r"^Total population: mid \d{4} \(excluding prisoners\)$", re.I),
        "'Total population: mid YYYY (excluding prisoners)'",
    ),
}


def deprivation(lines: Iterable[str], tally: Tally | None = None) -> Iterator[Deprivation]:
    """Each LSOA's IMD decile, local authority and population from File 7; an LSOA with a
    blank or suppressed decile or population is skipped."""
    tally = tally if tally is not None else Tally()
    seen: set[str] = set()
    for line, row, found in _rows(lines, IMD_COLUMNS, IMD):
        lsoa = _area(row.get(found["lsoa"], ""))
        if lsoa is None:
            raise FileFormatError(
                f"line {line}: column {found['lsoa']!r}: "
                f"{row.get(found['lsoa'], '')!r} is not an LSOA code"
            )
        decile = _number(row.get(found["decile"], ""), line, found["decile"])
        people = _number(row.get(found["population"], ""), line, found["population"])
        if decile is None or people is None:
            tally.skipped += 1
            continue
        if not 1 <= decile <= 10:
            raise FileFormatError(
                f"line {line}: column {found['decile']!r}: {decile} is not a decile from 1 to 10"
            )
        if lsoa in seen:
            raise FileFormatError(f"line {line}: LSOA {lsoa} appears twice")
        seen.add(lsoa)
        tally.read += 1
        authority = _area(row.get(found["authority"], "")) if "authority" in found else None
        yield Deprivation(lsoa, authority, decile, people)
