"""The published geography files loaded as released: the ONS mid-year population estimates
(long format), File 7 of the English Indices of Deprivation and the ONS Postcode
Directory's LSOA columns; the demo's packaged extracts in the same columns."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from services.commands.demo import load_demo_geography
from testkit.cli import vrp
from testkit.partnerships import SEVERNSIDE
from vrp.demo_geography import DEPRIVATION, POPULATIONS, POSTCODES, load_demo_denominators
from vrp.domain import published_files
from vrp.domain.geography import AREAS, area_for
from vrp.domain.published_files import FileFormatError, Tally
from vrp.settings import Settings
from vrp.store.database import Database
from vrp.store.denominators import held, load_deprivation, load_populations
from vrp.store.evidence_tables import deprivation, populations
from vrp.store.geography import load_directory
from vrp.store.tables import postcode_areas

# The published files' own headers (mid-2020 estimates, IoD2019 and IoD2025 File 7).
MYE = """ladcode21,laname21,country,sex,age,population_2019,population_2020
E08000025,Birmingham,E,1,0,"8,101",8012
E08000025,Birmingham,E,2,0,7702,:
E08000025,Birmingham,E,1,90,2511,2600
E08000025,Birmingham,E,2,90,4480,
E92000001,England,E,1,0,320000,318000
"""
IMD_2019 = (
    "LSOA code (2011),LSOA name (2011),Local Authority District code (2019),"
    "Local Authority District name (2019),Income Decile (where 1 is most deprived 10% of LSOAs),"
    "Index of Multiple Deprivation (IMD) Score,"
    "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived),"
    "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs),"
    "Total population: mid 2015 (excluding prisoners),"
    "Dependent Children aged 0-15: mid 2015 (excluding prisoners)\n"
    "E01000001,City of London 001A,E09000001,City of London,10,6.2,29199,9,1296,175\n"
    "E01009001,Birmingham 001A,E08000025,Birmingham,2,52.1,1520,1,1590,402\n"
    "E01009002,Birmingham 001B,E08000025,Birmingham,3,40.3,3900,2,x,390\n"
)
IMD_2025 = (
    "LSOA code (2021),LSOA name (2021),Local Authority District code (2024),"
    "Local Authority District name (2024),"
    "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs),"
    "Total population: mid 2022 (excluding prisoners)\n"
    "E01033620,Birmingham 050F,E08000025,Birmingham,10,1702\n"
)
ONSPD = (
    "pcd,pcd2,pcds,dointr,doterm,oslaua,lsoa11,lsoa21\n"
    "B1  1AA,B1   1AA,B1 1AA,198001,,E08000025,E01033620,E01033621\n"
    "B1  1AB,B1   1AB,B1 1AB,198001,,E08000025,E01033620,\n"
    "B1  1AD,B1   1AD,B1 1AD,198001,200012,E08000025,E01033620,E01033621\n"
    "GY1 1AA,GY1  1AA,GY1 1AA,198001,,L99999999,L99999999,L99999999\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_mid_year_estimates_are_read_every_year_blank_and_suppressed_skipped() -> None:
    tally = Tally()
    rows = list(published_files.populations(io.StringIO(MYE), tally))
    got = {(r.local_authority, r.year, r.sex, r.age): r.population for r in rows}
    assert got == {
        ("E08000025", 2019, "male", 0): 8101,  # "8,101": a thousands separator
        ("E08000025", 2020, "male", 0): 8012,
        ("E08000025", 2019, "female", 0): 7702,  # its 2020 figure ":" is suppressed
        ("E08000025", 2019, "male", 90): 2511,  # 90 means 90 and over
        ("E08000025", 2020, "male", 90): 2600,
        ("E08000025", 2019, "female", 90): 4480,
        ("E92000001", 2019, "male", 0): 320000,
        ("E92000001", 2020, "male", 0): 318000,
    }
    assert (tally.read, tally.skipped) == (8, 2)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (IMD_2019, "no column ladcodeYY (the local authority code) and no column sex"),
        ("ladcode21,sex,age,all_ages\nE08000025,1,0,5\n", "no column population_YYYY"),
        ("ladcode21,sex,age,population_2021\nE08000025,3,0,5\n", "line 2: column 'sex'"),
        ("ladcode21,sex,age,population_2021\nE08000025,1,91,5\n", "line 2: column 'age'"),
        ("ladcode21,sex,age,population_2021\nE08000025,1,4,many\n", "'many' is not a number"),
        (
            "ladcode21,sex,age,population_2021\nE08000025,1,4,5\nE08000025,1,4,6\n",
            "line 3: E08000025 male aged 4 in 2021 appears twice",
        ),
        ("", "the file is empty"),
    ],
)
def test_a_file_that_is_not_the_mid_year_estimates_is_refused_naming_why(
    text: str, named: str
) -> None:
    with pytest.raises(FileFormatError) as refused:
        list(published_files.populations(io.StringIO(text)))
    assert named in str(refused.value)


@pytest.mark.parametrize("text", [IMD_2019, IMD_2025], ids=["IoD2019", "IoD2025"])
def test_file_7_gives_each_lsoas_imd_decile_not_a_domains(text: str) -> None:
    tally = Tally()
    rows = {d.lsoa: d for d in published_files.deprivation(io.StringIO(text), tally)}
    if text is IMD_2019:
        assert set(rows) == {"E01000001", "E01009001"}  # E01009002's population is "x"
        assert (rows["E01009001"].decile, rows["E01009001"].population) == (1, 1590)
        assert rows["E01000001"].decile == 9  # the IMD decile, not the income decile (10)
        assert rows["E01009001"].local_authority == "E08000025"
        assert tally.skipped == 1
    else:
        assert rows["E01033620"].decile == 10 and rows["E01033620"].population == 1702


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (MYE, "no column 'LSOA code (2011|2021)'"),
        (
            "LSOA code (2011),Income Decile (where 1 is most deprived 10% of LSOAs)\n",
            "no column 'Index of Multiple Deprivation (IMD) Decile",
        ),
        (
            IMD_2025.replace(",10,1702", ",11,1702"),
            "line 2: column 'Index of Multiple Deprivation (IMD) Decile (where 1 is most "
            "deprived 10% of LSOAs)': 11 is not a decile from 1 to 10",
        ),
        (IMD_2025.replace("E01033620", "Birmingham"), "'Birmingham' is not an LSOA code"),
    ],
)
def test_a_file_that_is_not_file_7_is_refused_naming_the_column(text: str, named: str) -> None:
    with pytest.raises(FileFormatError) as refused:
        list(published_files.deprivation(io.StringIO(text)))
    assert named in str(refused.value)


def test_the_postcode_directory_gives_the_2021_lsoa_else_the_2011_one() -> None:
    tally = Tally()
    rows = list(published_files.postcode_areas(io.StringIO(ONSPD), tally))
    assert [(r.postcode, r.local_authority, r.lsoa) for r in rows] == [
        ("B1 1AA", "E08000025", "E01033621"),
        ("B1 1AB", "E08000025", "E01033620"),  # no lsoa21: the 2011 one
    ]
    assert tally.skipped == 2  # B1 1AD terminated; GY1 1AA has only pseudo codes


async def test_the_loaders_store_what_the_files_say(sqlite_db: Database, tmp_path: Path) -> None:
    assert await load_directory(sqlite_db, _write(tmp_path, "onspd.csv", ONSPD)) == 2
    loaded = await load_populations(sqlite_db, _write(tmp_path, "mye.csv", MYE))
    assert (loaded.rows, loaded.skipped, loaded.years) == (8, 2, (2019, 2020))
    # A later file holding 2020 only replaces 2020, and keeps 2019.
    later = "ladcode21,sex,age,population_2020\nE08000029,2,30,1500\n"
    assert (await load_populations(sqlite_db, _write(tmp_path, "m2.csv", later))).years == (2020,)
    imd = await load_deprivation(sqlite_db, _write(tmp_path, "imd.csv", IMD_2019))
    assert (imd.rows, imd.skipped) == (2, 1)
    async with sqlite_db.engine.connect() as conn:
        lsoas = dict(
            (await conn.execute(select(postcode_areas.c.postcode, postcode_areas.c.lsoa))).all()
        )
        people = (await conn.execute(select(populations))).all()
        deciles = (await conn.execute(select(deprivation.c.lsoa, deprivation.c.decile))).all()
    assert lsoas == {"B1 1AA": "E01033621", "B1 1AB": "E01033620"}
    assert sorted((p.year, p.local_authority) for p in people) == [
        (2019, "E08000025"),
        (2019, "E08000025"),
        (2019, "E08000025"),
        (2019, "E08000025"),
        (2019, "E92000001"),
        (2020, "E08000029"),
    ]
    assert sorted(deciles) == [("E01000001", 9), ("E01009001", 1)]


def test_the_commands_load_the_files_and_refuse_the_wrong_one(tmp_path: Path) -> None:
    env = os.environ | {"VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db"}
    mye, imd = _write(tmp_path, "mye.csv", MYE), _write(tmp_path, "imd.csv", IMD_2019)
    loaded = vrp("geography", "population", str(mye), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 8 population figures for 2019, 2020 (2 figures blank" in loaded.stdout
    loaded = vrp("geography", "deprivation", str(imd), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2 LSOAs' deprivation deciles (1 LSOAs blank" in loaded.stdout
    swapped = vrp("geography", "population", str(imd), env=env)
    assert swapped.returncode == 1
    assert "no column ladcodeYY" in swapped.stderr and "Traceback" not in swapped.stderr
    swapped = vrp("geography", "deprivation", str(mye), env=env)
    assert swapped.returncode == 1 and "no column 'LSOA code (2011|2021)'" in swapped.stderr


def test_the_demo_extracts_are_consistent_and_in_the_published_columns() -> None:
    with POPULATIONS.open() as f:
        people = list(published_files.populations(f))
    with DEPRIVATION.open() as f:
        lsoas = list(published_files.deprivation(f))
    with POSTCODES.open() as f:
        postcodes = list(published_files.postcode_areas(f))
    assert {p.local_authority for p in people} == set(AREAS) == {d.local_authority for d in lsoas}
    assert len(people) == len(AREAS) * 2 * 91 and {p.year for p in people} == {2021}
    total = Counter[str]()
    for p in people:
        total[p.local_authority] += p.population
    in_lsoas = Counter[str]()
    for d in lsoas:
        in_lsoas[str(d.local_authority)] += d.population
    assert total == in_lsoas  # the fictional LSOAs add up to each authority's residents
    assert 1_140_000 < total["E08000025"] < 1_150_000  # near Birmingham's mid-2021 figure
    for area in AREAS:
        assert {d.decile for d in lsoas if d.local_authority == area} == set(range(1, 11))
    assert all(d.lsoa.startswith("E019") for d in lsoas)  # a range no real LSOA has
    by_code = {d.lsoa: d for d in lsoas}
    for pc in postcodes:
        assert pc.lsoa is not None and by_code[pc.lsoa].local_authority == pc.local_authority
        assert area_for(pc.postcode) == pc.local_authority
    with DEPRIVATION.open() as f:
        assert all(row["LSOA name (2011)"].startswith("Fictional ") for row in csv.DictReader(f))


async def test_the_demo_loads_its_extracts_once_and_never_over_real_files(
    sqlite_db: Database, tmp_path: Path
) -> None:
    first = await load_demo_denominators(sqlite_db)
    assert first.populations is not None and first.populations.rows == len(AREAS) * 2 * 91
    assert first.deprivation is not None and first.deprivation.rows > 1500
    again = await load_demo_denominators(sqlite_db)
    assert again.populations is None and again.deprivation is None
    assert "loaded before" in again.describe()
    # Real files loaded first are kept: the demo fills only an empty table.
    real = Database(f"sqlite+aiosqlite:///{tmp_path}/real.db")
    from vrp.store.migrate import upgrade

    await upgrade(real)
    await load_deprivation(real, _write(tmp_path, "imd.csv", IMD_2019))
    kept = await load_demo_denominators(real)
    assert kept.deprivation is None and kept.populations is not None
    assert (await held(real)).deprivation == 2
    await real.dispose()


async def test_vrp_up_loads_the_demo_extracts_only_for_the_demo_partnership(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    await load_demo_geography(demo)
    assert "demo geography: loaded 1274 population figures" in capsys.readouterr().out
    own = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/own.db", config_dir=SEVERNSIDE)
    await load_demo_geography(own)
    assert capsys.readouterr().out == ""
    db = Database(demo.database_url)
    assert (await held(db)).years == (2021,)
    await db.dispose()


@pytest.mark.postgres
async def test_the_demo_extracts_and_a_postcode_directory_load_on_postgresql(
    pg_db: Database,
) -> None:
    loaded = await load_demo_denominators(pg_db)
    assert loaded.populations is not None and loaded.deprivation is not None
    found = await held(pg_db)
    assert (found.populations, found.deprivation) == (
        loaded.populations.rows,
        loaded.deprivation.rows,
    )
    assert found.populations == len(AREAS) * 2 * 91 and found.years == (2021,)
    assert await load_directory(pg_db, POSTCODES) > 5000
    async with pg_db.engine.connect() as conn:
        missing = await conn.scalar(
            select(postcode_areas.c.postcode).where(
                postcode_areas.c.lsoa.not_in(select(deprivation.c.lsoa))
            )
        )
    assert missing is None  # every demo postcode lands in a demo LSOA with a decile
